import { useEffect, useState } from "preact/hooks";
import { must, type Block } from "../api/client";
import { ErrorBox } from "../components/ui";
import { useApp } from "../context";
import { href } from "../lib/router";
import { formatVn } from "../lib/time";

/** The senders blocked in the caller's scope (a commander sees every unit), each liftable with a reason. */
export function Blocks() {
  const { api, t, unitName, setTitle } = useApp();
  const [blocks, setBlocks] = useState<Block[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [lifted, setLifted] = useState("");

  const load = async () => {
    try {
      const found = must(await api.GET("/v1/blocks"));
      setBlocks([...found].sort((a, b) => (b.blocked_at ?? "").localeCompare(a.blocked_at ?? "")));
      setError(null);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => {
    setTitle(`${t("blocks_title")} · Zalo Tipline`);
    void load();
  }, []);

  const lift = async (block: Block, reason: string) => {
    try {
      must(await api.DELETE("/v1/contacts/{citizen}/block", { params: { path: { citizen: block.citizen }, query: { reason, tip_id: block.tip_id } } }));
      setLifted(block.citizen);
      await load();
    } catch (e) {
      setError(e);
    }
  };

  return (
    <section aria-labelledby="blocks-title">
      <div class="page-head">
        <h1 id="blocks-title">{t("blocks_title")}</h1>
        <p class="muted">{t("blocks_intro")}</p>
      </div>
      {lifted && (
        <p class="alert alert-info" role="status">
          {t("blocks_lifted", { citizen: lifted })}
        </p>
      )}
      {error !== null && <ErrorBox error={error} />}
      {blocks === null && error === null && <p class="muted">{t("loading")}</p>}
      {blocks?.length === 0 && <p class="empty">{t("blocks_empty")}</p>}
      {blocks && blocks.length > 0 && (
        <ul class="audit-list">
          {blocks.map((block) => (
            <BlockRow key={`${block.citizen}-${block.unit_id}`} block={block} unitName={unitName(block.unit_id)} onLift={(reason) => lift(block, reason)} />
          ))}
        </ul>
      )}
    </section>
  );
}

function BlockRow({ block, unitName, onLift }: { block: Block; unitName: string; onLift: (reason: string) => Promise<void> }) {
  const { t } = useApp();
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const id = `unblock-${block.citizen}`;
  const valid = reason.trim().length >= 3;
  return (
    <li class="card audit-row block-row" data-citizen={block.citizen}>
      <p class="row-top">
        <strong>
          {t("blocks_citizen")}: {block.citizen}
        </strong>
        {block.blocked_at && <time dateTime={block.blocked_at}>{formatVn(Date.parse(block.blocked_at))}</time>}
        <span class="chip">{unitName}</span>
      </p>
      <p class="row-meta">
        <span>
          {t("blocks_by")}: {block.blocked_by}
        </span>
        <span>
          {t("blocks_tip")}: <a href={href({ name: "tip", tipId: block.tip_id })}>{block.tip_id.slice(0, 8)}…</a>
        </span>
      </p>
      <p>
        <span class="muted">{t("blocks_reason")}:</span> {block.reason}
      </p>
      <form
        class="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (!valid || busy) return;
          setBusy(true);
          void onLift(reason.trim()).finally(() => setBusy(false));
        }}
      >
        <div class="field">
          <label for={id}>{t("action_unblock_reason")}</label>
          <input id={id} type="text" minLength={3} maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
        </div>
        <button type="submit" class="btn btn-small" disabled={!valid || busy}>
          {t("action_unblock")}
        </button>
      </form>
    </li>
  );
}
