import { useEffect, useRef, useState } from "preact/hooks";
import { must, type AttachmentLink, type EvidenceItem, type ThreadMessage, type TipChanges, type TipDetail, type TipStatus } from "../api/client";
import { ErrorBox, StatusChip, UnitOptions, UrgentBadge } from "../components/ui";
import { useApp } from "../context";
import { type Key, maybe } from "../i18n";
import { charCount, checkReply, replyWindow, ZALO_TEXT_LIMIT } from "../lib/reply";
import { href } from "../lib/router";
import { deliveryMark, locations, type LooseMessage, mapLink, mediaOf, normaliseLabel, pendingKinds, REASON_MAX, REASON_MIN, TRANSITIONS } from "../lib/tip";
import { formatVn, span } from "../lib/time";

const PRESETS: Key[] = ["reason_verify", "reason_reply", "reason_triage", "reason_review"];

export function Tip({ tipId }: { tipId: string }) {
  const { api, t, setTitle } = useApp();
  const [reason, setReason] = useState<string | null>(null);
  const [tip, setTip] = useState<TipDetail | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);

  useEffect(() => setTitle(`${t("tip_reason_title")} · Zalo Tipline`), []);

  const open = async (why: string) => {
    setLoading(true);
    try {
      const detail = must(await api.GET("/v1/tips/{tip_id}", { params: { path: { tip_id: tipId }, query: { reason: why } } }));
      setTip(detail);
      setReason(why);
      setError(null);
      setTitle(`${detail.code} · Zalo Tipline`);
    } catch (e) {
      setError(e);
    } finally {
      setLoading(false);
    }
  };

  if (!tip || !reason) return <ReasonGate onOpen={open} error={error} busy={loading} />;
  return <TipView tip={tip} reason={reason} onChange={setTip} onReload={() => open(reason)} busy={loading} error={error} />;
}

function ReasonGate({ onOpen, error, busy }: { onOpen: (reason: string) => void; error: unknown; busy: boolean }) {
  const { t } = useApp();
  const [text, setText] = useState("");
  const input = useRef<HTMLTextAreaElement>(null);
  useEffect(() => input.current?.focus(), []);
  const valid = text.trim().length >= REASON_MIN;
  return (
    <section class="reason-gate" aria-labelledby="reason-title">
      <a class="back" href={href({ name: "inbox" })}>
        {t("tip_back")}
      </a>
      <form
        class="card dialog"
        role="dialog"
        aria-modal="false"
        aria-labelledby="reason-title"
        onSubmit={(e) => {
          e.preventDefault();
          if (valid) onOpen(text.trim());
        }}
      >
        <h1 id="reason-title">{t("tip_reason_title")}</h1>
        <p>{t("tip_reason_intro")}</p>
        <fieldset class="presets">
          <legend>{t("tip_reason_presets")}</legend>
          {PRESETS.map((key) => (
            <button key={key} type="button" class="btn btn-small chip-button" aria-pressed={text === t(key)} onClick={() => setText(t(key))}>
              {t(key)}
            </button>
          ))}
        </fieldset>
        <div class="field">
          <label for="reason">{t("tip_reason_label")}</label>
          <textarea id="reason" ref={input} rows={2} maxLength={REASON_MAX} required minLength={REASON_MIN} value={text} onInput={(e) => setText(e.currentTarget.value)} />
        </div>
        {error !== null && <ErrorBox error={error} />}
        <button type="submit" class="btn btn-primary btn-block" disabled={!valid || busy}>
          {busy ? t("loading") : t("tip_open")}
        </button>
      </form>
    </section>
  );
}

interface ViewProps {
  tip: TipDetail;
  reason: string;
  onChange: (tip: TipDetail) => void;
  onReload: () => void;
  busy: boolean;
  error: unknown;
}

function TipView({ tip, reason, onChange, onReload, busy, error }: ViewProps) {
  const { t, unitName } = useApp();
  const now = Date.now();
  return (
    <section class="tip" aria-labelledby="tip-title">
      <a class="back" href={href({ name: "inbox" })}>
        {t("tip_back")}
      </a>
      <header class="tip-head card">
        <div class="tip-title-row">
          <h1 id="tip-title" class="code">
            {tip.code}
          </h1>
          {tip.urgent && <UrgentBadge />}
          <StatusChip status={tip.status} />
          <button type="button" class="btn btn-small push-right" onClick={onReload} disabled={busy}>
            {busy ? t("loading") : t("refresh")}
          </button>
        </div>
        <dl class="facts">
          <div>
            <dt>{t("tip_unit")}</dt>
            <dd>{unitName(tip.unit_id)}</dd>
          </div>
          <div>
            <dt>{t("citizen")}</dt>
            <dd>{tip.citizen}</dd>
          </div>
          <div>
            <dt>{t("tip_created")}</dt>
            <dd>{formatVn(tip.created_at, now)}</dd>
          </div>
          <div>
            <dt>{t("tip_activity")}</dt>
            <dd>{formatVn(tip.last_activity_at, now)}</dd>
          </div>
        </dl>
      </header>
      {error !== null && <ErrorBox error={error} />}
      <div class="tip-layout">
        <div class="tip-main">
          <Thread tip={tip} reason={reason} />
          <ReplyBox tip={tip} onChange={onChange} />
        </div>
        <Actions tip={tip} onChange={onChange} />
      </div>
    </section>
  );
}

function Thread({ tip, reason }: { tip: TipDetail; reason: string }) {
  const { t } = useApp();
  const now = Date.now();
  return (
    <section class="card thread" aria-labelledby="thread-title">
      <h2 id="thread-title">{t("tip_thread")}</h2>
      <ol class="bubbles">
        {tip.messages.map((message, index) => (
          <Bubble key={`${message.at}-${index}`} message={message} tipId={tip.tip_id} reason={reason} now={now} />
        ))}
      </ol>
    </section>
  );
}

function Bubble({ message, tipId, reason, now }: { message: ThreadMessage; tipId: string; reason: string; now: number }) {
  const { t, lang } = useApp();
  const mark = deliveryMark(message);
  const side = message.direction === "in" ? "in" : message.direction === "internal" ? "note" : "out";
  const who =
    message.direction === "in"
      ? t("tip_from_citizen")
      : message.direction === "internal"
        ? t("tip_note", { who: message.author ?? "" })
        : message.author
          ? t("tip_from_officer", { who: message.author })
          : t("tip_from_oa");
  const loose = message as unknown as LooseMessage;
  const places = locations(loose);
  const pending = pendingKinds(loose);
  return (
    <li class={`bubble bubble-${side}`}>
      <p class="bubble-who">{who}</p>
      {loose.unreadable && <p class="muted">{t("tip_unreadable")}</p>}
      {message.text ? <p class="bubble-text">{message.text}</p> : !message.evidence.length && !places.length && !pending.length && !message.info && !loose.unreadable && <p class="muted">{t("tip_no_text")}</p>}
      {message.info && (
        <dl class="info">
          <dt>{t("tip_info")}</dt>
          {Object.entries(message.info as Record<string, unknown>).filter(([, v]) => v !== null && v !== undefined && v !== "").map(([k, v]) => (
            <dd key={k}>
              {k}: {String(v)}
            </dd>
          ))}
        </dl>
      )}
      {places.map((place, i) => (
        <p key={i} class="location">
          <span>
            {t("location")}: {place.latitude.toFixed(5)}, {place.longitude.toFixed(5)}
          </span>{" "}
          <a href={mapLink(place)} target="_blank" rel="noopener noreferrer">
            {t("location_open")}
          </a>
        </p>
      ))}
      {message.evidence.map((item) => (
        <Evidence key={item.attachment_id} item={item} tipId={tipId} reason={reason} />
      ))}
      {pending.map((kind, i) => (
        <p key={i} class="evidence-pending muted">
          {maybe(lang, `kind_${kind}`, kind)} · {t("evidence_pending")}
        </p>
      ))}
      <p class="bubble-meta">
        <time dateTime={message.at ?? undefined}>{formatVn(message.at, now)}</time>
        {message.grouped && <span> · {t("tip_grouped")}</span>}
        {mark && (
          <span class={`mark mark-${mark.key}`} title={t(`delivery_${mark.key}` as Key)}>
            <span aria-hidden="true">{mark.symbol} </span>
            {t(`delivery_${mark.key}` as Key)}
            {mark.key === "failed" && message.reason ? ` (${message.reason})` : ""}
          </span>
        )}
      </p>
    </li>
  );
}

function Evidence({ item, tipId, reason }: { item: EvidenceItem; tipId: string; reason: string }) {
  const { api, t, lang } = useApp();
  const [link, setLink] = useState<AttachmentLink | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [large, setLarge] = useState(false);
  const media = mediaOf(item.content_type, item.kind);
  const kindName = maybe(lang, `kind_${item.kind}`, maybe(lang, `kind_${media}`, item.kind));

  if (item.status !== "retrieved") {
    return (
      <p class="evidence-pending muted">
        {kindName} · {item.status === "pending" ? t("evidence_pending") : t("evidence_missing", { reason: item.reason ?? item.status })}
      </p>
    );
  }
  const fetchLink = async () => {
    setBusy(true);
    try {
      const answer = await api.GET("/v1/tips/{tip_id}/attachments/{attachment_id}", {
        params: { path: { tip_id: tipId, attachment_id: item.attachment_id }, query: { reason } },
      });
      setLink(must(answer) as unknown as AttachmentLink);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  if (!link?.url) {
    return (
      <div class="evidence">
        <button type="button" class="btn btn-small" onClick={() => void fetchLink()} disabled={busy}>
          {busy ? t("evidence_loading") : t("evidence_show", { kind: kindName })}
        </button>
        {link && !link.url && <span class="muted"> {t("evidence_missing", { reason: link.reason ?? link.status })}</span>}
        {error !== null && <ErrorBox error={error} />}
      </div>
    );
  }
  const url = link.url;
  return (
    <div class="evidence">
      {media === "image" && (
        <>
          <button type="button" class="thumb-button" onClick={() => setLarge(true)} aria-label={t("evidence_open_large")}>
            <img class="thumb" src={url} alt={t("evidence_image_alt")} referrerpolicy="no-referrer" />
          </button>
          {large && (
            <div class="lightbox" role="dialog" aria-modal="true" aria-label={t("evidence_image_alt")}>
              <img src={url} alt={t("evidence_image_alt")} referrerpolicy="no-referrer" />
              <button type="button" class="btn" onClick={() => setLarge(false)} autoFocus>
                {t("close")}
              </button>
            </div>
          )}
        </>
      )}
      {media === "video" && <video class="player" controls preload="metadata" src={url} />}
      {media === "audio" && <audio class="player" controls preload="metadata" src={url} />}
      {media === "file" && (
        <a class="btn btn-small" href={url} download rel="noopener noreferrer">
          {t("evidence_download")} ({item.content_type ?? kindName}
          {item.size ? `, ${Math.ceil(item.size / 1024)} kB` : ""})
        </a>
      )}
    </div>
  );
}

function ReplyBox({ tip, onChange }: { tip: TipDetail; onChange: (tip: TipDetail) => void }) {
  const { api, t, me } = useApp();
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const now = Date.now();
  const window = replyWindow(tip.reply_until, tip.reply_refused, now);
  const check = checkReply(text, window);
  const count = charCount(text);

  const send = async (e: Event) => {
    e.preventDefault();
    if (check !== "ok") return;
    setBusy(true);
    setDone(false);
    try {
      must(await api.POST("/v1/tips/{tip_id}/replies", { params: { path: { tip_id: tip.tip_id } }, body: { text } }));
      const sent: ThreadMessage = {
        direction: "out",
        kind: "officer_reply",
        at: new Date().toISOString(),
        text,
        attachments: [],
        evidence: [],
        grouped: false,
        delivery: "queued",
        author: me.subject,
        unreadable: false,
      };
      onChange({ ...tip, messages: [...tip.messages, sent], reply_count: tip.reply_count + 1 });
      setText("");
      setDone(true);
      setError(null);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  let windowText: string;
  if (window.state === "open") {
    const left = span(window.remainingMs);
    windowText = t("reply_window_open", { days: left.days, hours: left.hours, minutes: left.minutes });
  } else if (window.state === "closed") {
    windowText = t("reply_window_closed", { time: formatVn(window.closedAt) });
  } else {
    windowText = window.reason === "anonymous" ? t("reply_refused_anonymous") : t("reply_refused_withdrawn");
  }
  return (
    <form class="card reply" onSubmit={send} aria-labelledby="reply-title">
      <h2 id="reply-title">{t("reply_title")}</h2>
      <p class={window.state === "open" ? "hint" : "alert alert-warn"} id="reply-window">
        {windowText}
      </p>
      <div class="field">
        <label for="reply-text">{t("reply_label")}</label>
        <textarea
          id="reply-text"
          rows={4}
          value={text}
          disabled={window.state !== "open"}
          aria-describedby="reply-window reply-count"
          onInput={(e) => (setText(e.currentTarget.value), setDone(false))}
        />
        <p id="reply-count" class={`counter${count > ZALO_TEXT_LIMIT ? " over" : ""}`} aria-live="polite">
          {t("reply_count", { count, limit: ZALO_TEXT_LIMIT })}
          {check === "too_long" && ` · ${t("reply_too_long", { limit: ZALO_TEXT_LIMIT })}`}
        </p>
      </div>
      {error !== null && <ErrorBox error={error} />}
      {done && (
        <p class="alert alert-ok" role="status">
          {t("reply_queued")}
        </p>
      )}
      <button type="submit" class="btn btn-primary" disabled={check !== "ok" || busy}>
        {busy ? t("reply_sending") : t("reply_send")}
      </button>
    </form>
  );
}

function Actions({ tip, onChange }: { tip: TipDetail; onChange: (tip: TipDetail) => void }) {
  const { api, t, lang, me, units } = useApp();
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [label, setLabel] = useState("");
  const [note, setNote] = useState("");
  const [target, setTarget] = useState("");
  const [transferReason, setTransferReason] = useState("");
  const [blockReason, setBlockReason] = useState("");
  const commander = me.role === "commander";
  const blocked = tip.sender.block != null;

  const run = async (action: () => Promise<Partial<TipDetail> | void>) => {
    setMessage(null);
    try {
      const changed = await action();
      if (changed) onChange({ ...tip, ...changed });
      setError(null);
      setMessage(t("action_done"));
    } catch (e) {
      setError(e);
    }
  };
  const patch = (body: TipChanges) =>
    run(async () => must(await api.PATCH("/v1/tips/{tip_id}", { params: { path: { tip_id: tip.tip_id } }, body })));

  const labels = tip.labels ?? [];
  return (
    <aside class="card actions" aria-labelledby="actions-title">
      <h2 id="actions-title">{t("actions")}</h2>
      {message && (
        <p class="alert alert-ok" role="status">
          {message}
        </p>
      )}
      {error !== null && <ErrorBox error={error} />}

      <div class="field">
        <label for="a-status">{t("action_status")}</label>
        <select
          id="a-status"
          value={tip.status}
          onChange={(e) => {
            const status = e.currentTarget.value as TipStatus;
            if (status !== tip.status) void patch({ status });
          }}
        >
          <option value={tip.status}>{maybe(lang, `status_${tip.status}`, tip.status)}</option>
          {TRANSITIONS[tip.status].map((s) => (
            <option key={s} value={s}>
              {maybe(lang, `status_${s}`, s)}
            </option>
          ))}
        </select>
      </div>

      <div class="field">
        <span class="label-text" id="assignee-label">
          {t("action_assignee")}
        </span>
        <p aria-labelledby="assignee-label">{tip.assignee ?? t("unassigned")}</p>
        <div class="row-buttons">
          {tip.assignee !== me.subject && (
            <button type="button" class="btn btn-small" onClick={() => void patch({ assignee: me.subject })}>
              {t("action_assign_me")}
            </button>
          )}
          {tip.assignee && (
            <button type="button" class="btn btn-small" onClick={() => void patch({ assignee: "" })}>
              {t("action_unassign")}
            </button>
          )}
        </div>
      </div>

      <div class="field">
        <span class="label-text">{t("action_labels")}</span>
        <ul class="labels">
          {labels.map((l) => (
            <li key={l} class="label">
              {l}
              <button type="button" class="label-remove" aria-label={t("action_label_remove", { label: l })} onClick={() => void patch({ labels: labels.filter((x) => x !== l) })}>
                ×
              </button>
            </li>
          ))}
        </ul>
        <form
          class="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            const value = normaliseLabel(label);
            if (value && !labels.includes(value)) void patch({ labels: [...labels, value] }).then(() => setLabel(""));
          }}
        >
          <label for="a-label" class="visually-hidden">
            {t("action_label_add")}
          </label>
          <input id="a-label" type="text" maxLength={40} value={label} onInput={(e) => setLabel(e.currentTarget.value)} />
          <button type="submit" class="btn btn-small">
            {t("action_label_add")}
          </button>
        </form>
      </div>

      <form
        class="field"
        onSubmit={(e) => {
          e.preventDefault();
          const text = note.trim();
          if (!text) return;
          void run(async () => {
            const summary = must(await api.PATCH("/v1/tips/{tip_id}", { params: { path: { tip_id: tip.tip_id } }, body: { note: text } }));
            const added: ThreadMessage = { direction: "internal", kind: "note", at: new Date().toISOString(), text, attachments: [], evidence: [], grouped: false, author: me.subject, unreadable: false };
            setNote("");
            return { ...summary, messages: [...tip.messages, added] };
          });
        }}
      >
        <label for="a-note">{t("action_note")}</label>
        <textarea id="a-note" rows={2} maxLength={4000} value={note} onInput={(e) => setNote(e.currentTarget.value)} />
        <button type="submit" class="btn btn-small" disabled={!note.trim()}>
          {t("action_note_add")}
        </button>
      </form>

      <details class="action-group">
        <summary>{t("action_transfer")}</summary>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (!target || transferReason.trim().length < 3) return;
            void run(async () =>
              must(await api.POST("/v1/tips/{tip_id}/transfer", { params: { path: { tip_id: tip.tip_id } }, body: { unit_id: target, reason: transferReason.trim() } })),
            );
          }}
        >
          <div class="field">
            <label for="a-target">{t("action_transfer_to")}</label>
            <select id="a-target" value={target} onChange={(e) => setTarget(e.currentTarget.value)}>
              <UnitOptions units={units} empty="—" exclude={tip.unit_id} />
            </select>
          </div>
          <div class="field">
            <label for="a-transfer-reason">{t("action_transfer_reason")}</label>
            <input id="a-transfer-reason" type="text" minLength={3} maxLength={500} value={transferReason} onInput={(e) => setTransferReason(e.currentTarget.value)} />
          </div>
          <button type="submit" class="btn btn-small" disabled={!target || transferReason.trim().length < 3}>
            {t("action_transfer_do")}
          </button>
        </form>
      </details>

      <details class="action-group">
        <summary>{t("action_block")}</summary>
        {blocked ? (
          <form
            onSubmit={(e) => {
              e.preventDefault();
              if (blockReason.trim().length < 3) return;
              void run(async () => {
                must(
                  await api.DELETE("/v1/contacts/{citizen}/block", {
                    params: { path: { citizen: tip.citizen }, query: { reason: blockReason.trim(), tip_id: tip.tip_id } },
                  }),
                );
                setBlockReason("");
                return { sender: { ...tip.sender, block: null } };
              });
            }}
          >
            <p>{t("action_blocked")}</p>
            <div class="field">
              <label for="a-unblock-reason">{t("action_unblock_reason")}</label>
              <input id="a-unblock-reason" type="text" minLength={3} maxLength={500} value={blockReason} onInput={(e) => setBlockReason(e.currentTarget.value)} />
            </div>
            <button type="submit" class="btn btn-small" disabled={blockReason.trim().length < 3}>
              {t("action_unblock")}
            </button>
          </form>
        ) : (
          <form
            onSubmit={(e) => {
              e.preventDefault();
              if (blockReason.trim().length < 3) return;
              void run(async () => {
                const block = must(await api.POST("/v1/contacts/{citizen}/block", { params: { path: { citizen: tip.citizen } }, body: { reason: blockReason.trim(), tip_id: tip.tip_id } }));
                setBlockReason("");
                return { sender: { ...tip.sender, block } };
              });
            }}
          >
            <div class="field">
              <label for="a-block-reason">{t("action_block_reason")}</label>
              <input id="a-block-reason" type="text" minLength={3} maxLength={500} value={blockReason} onInput={(e) => setBlockReason(e.currentTarget.value)} />
            </div>
            <button type="submit" class="btn btn-small btn-danger" disabled={blockReason.trim().length < 3}>
              {t("action_block_do")}
            </button>
          </form>
        )}
      </details>

      {commander && (
        <div class="field field-check">
          <input id="a-hold" type="checkbox" checked={tip.legal_hold} onChange={(e) => {
              const legal_hold = e.currentTarget.checked;
              void run(async () => ({
                ...must(await api.PATCH("/v1/tips/{tip_id}", { params: { path: { tip_id: tip.tip_id } }, body: { legal_hold } })),
                legal_hold,
              }));
            }}
          />
          <label for="a-hold">{t("action_legal_hold")}</label>
        </div>
      )}
      {commander && (
        <a class="small" href={href({ name: "audit", tipId: tip.tip_id })}>
          {t("action_audit")}
        </a>
      )}
    </aside>
  );
}

