import { useEffect, useState } from "preact/hooks";
import { must, type Advisory, type AdvisoryDetail } from "../api/client";
import { Legend, StackedBar } from "../components/charts";
import { ErrorBox, Loading } from "../components/ui";
import { useApp } from "../context";
import { type Key, maybe } from "../i18n";
import { CATEGORIES, type Draft, emptyDraft, messageText, type Repeat, segments, TEXT_LIMIT, TITLE_LIMIT, toInput } from "../lib/advisory";
import { href } from "../lib/router";
import { formatVn, vnDay } from "../lib/time";

function target(advisory: Advisory, t: ReturnType<typeof useApp>["t"], unitName: (id: string) => string): string {
  if (advisory.target.province_wide) return t("adv_province");
  const ids = advisory.target.unit_ids ?? [];
  return ids.length === 1 ? unitName(ids[0] ?? "") : t("adv_units", { count: ids.length });
}

export function AdvisoryList() {
  const { api, t, lang, unitName, setTitle } = useApp();
  const [items, setItems] = useState<Advisory[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = async () => {
    try {
      setItems(must(await api.GET("/v1/advisories")));
      setError(null);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => {
    setTitle(`${t("adv_title")} · Zalo Tipline`);
    void load();
  }, []);
  return (
    <section aria-labelledby="adv-title">
      <div class="page-head page-head-row">
        <h1 id="adv-title">{t("adv_title")}</h1>
        <a class="btn btn-primary" href={href({ name: "compose" })}>
          {t("adv_new")}
        </a>
      </div>
      {error !== null && <ErrorBox error={error} onRetry={() => void load()} />}
      {!items && error === null && <Loading />}
      {items && items.length === 0 && <p class="empty">{t("adv_empty")}</p>}
      <ul class="adv-list">
        {(items ?? []).map((a) => (
          <li key={a.advisory_id} class="card adv-row">
            <a href={href({ name: "advisory", advisoryId: a.advisory_id })}>
              <span class="adv-row-title">{a.title}</span>
              <span class="row-meta">
                <span class={`chip adv-${a.status ?? "active"}`}>{maybe(lang, `adv_status_${a.status ?? "active"}`, a.status ?? "")}</span>
                <span>{maybe(lang, `cat_${a.category}`, a.category)}</span>
                <span>{target(a, t, unitName)}</span>
                <span>
                  {t("adv_col_next")}: {formatVn(a.next_due_ms ?? null)}
                </span>
              </span>
            </a>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** The OA the citizen sees the message from: the first targeted unit's, or the province's. */
function senderName(provinceWide: boolean, unitIds: string[], units: { unit_id: string; name: string; parent_unit_id?: string | null }[]): string | null {
  if (provinceWide) return units.find((u) => !u.parent_unit_id)?.name ?? null;
  return units.find((u) => u.unit_id === unitIds[0])?.name ?? null;
}

export function ZaloPreview({ title, text, link, linkTitle, oa }: { title: string; text: string; link: string; linkTitle: string; oa: string | null }) {
  const { t } = useApp();
  const body = messageText(title, text, link);
  return (
    <figure class="zalo-preview" aria-label={t("adv_preview")}>
      <figcaption>{t("adv_preview")}</figcaption>
      <div class="zalo-phone">
        <div class="zalo-bar">
          <svg class="zalo-avatar" viewBox="0 0 32 32" aria-hidden="true">
            <circle cx="16" cy="16" r="16" class="logo-bg" />
            <path d="M9 10h14v3h-5.5v10h-3V13H9z" class="logo-fg" />
          </svg>
          <span>{oa ?? t("adv_preview_oa")}</span>
        </div>
        <div class="zalo-chat">
          {title || text ? (
            <div class="zalo-bubble">
              {title && <p class="zalo-title">{title}</p>}
              {text && <p class="zalo-text">{text}</p>}
              {link && (
                <p class="zalo-link">
                  <span>{linkTitle || link}</span>
                </p>
              )}
            </div>
          ) : (
            <p class="muted">{t("adv_preview_empty")}</p>
          )}
          <p class="zalo-count muted">{[...body].length}/2000</p>
        </div>
      </div>
    </figure>
  );
}

export function Compose() {
  const { api, t, lang, me, units, setTitle } = useApp();
  const commander = me.role === "commander";
  const [draft, setDraft] = useState<Draft>(() => {
    const d = emptyDraft(Date.now());
    return commander ? d : { ...d, units: [me.unit_id] };
  });
  const [problem, setProblem] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => setTitle(`${t("adv_compose_title")} · Zalo Tipline`), []);
  const set = (patch: Partial<Draft>) => setDraft((d) => ({ ...d, ...patch }));
  const choices = commander ? units : units.filter((u) => u.unit_id === me.unit_id);

  const publish = async (e: Event) => {
    e.preventDefault();
    const input = toInput(draft, Date.now());
    if (typeof input === "string") {
      setProblem(t(`adv_problem_${input}` as Key));
      return;
    }
    setProblem(null);
    setBusy(true);
    try {
      const created = must(await api.POST("/v1/advisories", { body: input }));
      location.hash = href({ name: "advisory", advisoryId: created.advisory_id });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const repeats: Repeat[] = ["now", "once", "daily", "weekly"];
  return (
    <section aria-labelledby="compose-title">
      <a class="back" href={href({ name: "advisories" })}>
        {t("adv_detail_back")}
      </a>
      <h1 id="compose-title">{t("adv_compose_title")}</h1>
      <div class="compose">
        <form class="card compose-form" onSubmit={publish} noValidate>
          <div class="field">
            <label for="c-title">{t("adv_field_title")}</label>
            <input id="c-title" type="text" maxLength={TITLE_LIMIT} value={draft.title} onInput={(e) => set({ title: e.currentTarget.value })} />
          </div>
          <div class="field">
            <label for="c-text">{t("adv_field_text")}</label>
            <textarea id="c-text" rows={6} value={draft.text} aria-describedby="c-text-count" onInput={(e) => set({ text: e.currentTarget.value })} />
            <p id="c-text-count" class={`counter${[...draft.text].length > TEXT_LIMIT ? " over" : ""}`}>
              {t("reply_count", { count: [...draft.text].length, limit: TEXT_LIMIT })}
            </p>
          </div>
          <div class="field-pair">
            <div class="field">
              <label for="c-link">{t("adv_field_link")}</label>
              <input id="c-link" type="url" inputMode="url" value={draft.link} onInput={(e) => set({ link: e.currentTarget.value })} />
            </div>
            <div class="field">
              <label for="c-link-title">{t("adv_field_link_title")}</label>
              <input id="c-link-title" type="text" maxLength={100} value={draft.linkTitle} onInput={(e) => set({ linkTitle: e.currentTarget.value })} />
            </div>
          </div>
          <div class="field">
            <label for="c-category">{t("adv_field_category")}</label>
            <select id="c-category" value={draft.category} onChange={(e) => set({ category: e.currentTarget.value as Draft["category"] })}>
              {CATEGORIES.map((c) => (
                <option key={c} value={c}>
                  {maybe(lang, `cat_${c}`, c)}
                </option>
              ))}
            </select>
          </div>
          <fieldset class="field">
            <legend>{t("adv_field_target")}</legend>
            {commander && (
              <div class="field-check">
                <input id="c-province" type="checkbox" checked={draft.provinceWide} onChange={(e) => set({ provinceWide: e.currentTarget.checked })} />
                <label for="c-province">{t("adv_target_province")}</label>
              </div>
            )}
            {!draft.provinceWide &&
              choices.map((u) => (
                <div class="field-check" key={u.unit_id}>
                  <input
                    id={`c-unit-${u.unit_id}`}
                    type="checkbox"
                    checked={draft.units.includes(u.unit_id)}
                    onChange={(e) =>
                      set({ units: e.currentTarget.checked ? [...draft.units, u.unit_id] : draft.units.filter((x) => x !== u.unit_id) })
                    }
                  />
                  <label for={`c-unit-${u.unit_id}`}>{u.name}</label>
                </div>
              ))}
          </fieldset>
          <fieldset class="field">
            <legend>{t("adv_field_when")}</legend>
            <div class="segmented">
              {repeats.map((r) => (
                <span key={r}>
                  <input id={`c-repeat-${r}`} type="radio" name="repeat" value={r} checked={draft.repeat === r} onChange={() => set({ repeat: r })} />
                  <label for={`c-repeat-${r}`}>{t(`adv_when_${r}` as Key)}</label>
                </span>
              ))}
            </div>
            {draft.repeat === "once" && (
              <div class="field">
                <label for="c-at">{t("adv_field_at")}</label>
                <input id="c-at" type="datetime-local" value={draft.at} onInput={(e) => set({ at: e.currentTarget.value })} />
              </div>
            )}
            {(draft.repeat === "daily" || draft.repeat === "weekly") && (
              <div class="field-pair">
                <div class="field">
                  <label for="c-time">{t("adv_field_time")}</label>
                  <input id="c-time" type="time" value={draft.time} onInput={(e) => set({ time: e.currentTarget.value })} />
                </div>
                {draft.repeat === "weekly" && (
                  <div class="field">
                    <label for="c-weekday">{t("adv_field_weekday")}</label>
                    <select id="c-weekday" value={String(draft.weekday)} onChange={(e) => set({ weekday: Number(e.currentTarget.value) })}>
                      {[1, 2, 3, 4, 5, 6, 0].map((d) => (
                        <option key={d} value={String(d)}>
                          {t(`weekday_${d}` as Key)}
                        </option>
                      ))}
                    </select>
                  </div>
                )}
                <div class="field">
                  <label for="c-until">{t("adv_field_until")}</label>
                  <input id="c-until" type="date" value={draft.until} onInput={(e) => set({ until: e.currentTarget.value })} />
                </div>
              </div>
            )}
            <p class="hint">{t("adv_rules")}</p>
          </fieldset>
          {problem && (
            <p class="alert alert-error" role="alert">
              {problem}
            </p>
          )}
          {error !== null && <ErrorBox error={error} />}
          <button type="submit" class="btn btn-primary" disabled={busy}>
            {busy ? t("adv_publishing") : t("adv_publish")}
          </button>
        </form>
        <ZaloPreview title={draft.title} text={draft.text} link={draft.link} linkTitle={draft.linkTitle} oa={senderName(draft.provinceWide, draft.units, units)} />
      </div>
    </section>
  );
}

export function AdvisoryView({ advisoryId }: { advisoryId: string }) {
  const { api, t, lang, units, unitName, setTitle } = useApp();
  const [advisory, setAdvisory] = useState<AdvisoryDetail | null>(null);
  const oaName = (oaId: string) => units.find((u) => (u.oa_ids ?? []).includes(oaId))?.name ?? `OA ${oaId}`;
  const [error, setError] = useState<unknown>(null);
  const [message, setMessage] = useState<string | null>(null);
  const load = async () => {
    try {
      const found = must(await api.GET("/v1/advisories/{advisory_id}", { params: { path: { advisory_id: advisoryId } } }));
      setAdvisory(found);
      setTitle(`${found.title} · Zalo Tipline`);
      setError(null);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => {
    void load();
    const timer = window.setInterval(() => void load(), 10_000);
    return () => window.clearInterval(timer);
  }, [advisoryId]);
  const cancel = async () => {
    if (!window.confirm(t("adv_cancel_confirm"))) return;
    try {
      must(await api.DELETE("/v1/advisories/{advisory_id}", { params: { path: { advisory_id: advisoryId } } }));
      setMessage(t("adv_cancelled"));
      await load();
    } catch (e) {
      setError(e);
    }
  };
  if (error !== null && !advisory) return <ErrorBox error={error} onRetry={() => void load()} />;
  if (!advisory) return <Loading />;
  const s = advisory.schedule;
  const schedule = s.cron
    ? t("adv_schedule_cron", { cron: s.cron, until: s.end_ms ? vnDay(s.end_ms) : "—" })
    : t("adv_schedule_once", { time: formatVn(s.at_ms ?? null) });
  return (
    <section aria-labelledby="advisory-title">
      <a class="back" href={href({ name: "advisories" })}>
        {t("adv_detail_back")}
      </a>
      <div class="page-head page-head-row">
        <h1 id="advisory-title">{advisory.title}</h1>
        {advisory.status === "active" && (
          <button type="button" class="btn btn-danger" onClick={() => void cancel()}>
            {t("adv_cancel")}
          </button>
        )}
      </div>
      {message && (
        <p class="alert alert-ok" role="status">
          {message}
        </p>
      )}
      {error !== null && <ErrorBox error={error} />}
      <div class="compose">
        <div class="card">
          <dl class="facts">
            <div>
              <dt>{t("adv_col_status")}</dt>
              <dd>{maybe(lang, `adv_status_${advisory.status ?? "active"}`, advisory.status ?? "")}</dd>
            </div>
            <div>
              <dt>{t("adv_field_category")}</dt>
              <dd>{maybe(lang, `cat_${advisory.category}`, advisory.category)}</dd>
            </div>
            <div>
              <dt>{t("adv_col_target")}</dt>
              <dd>{target(advisory, t, unitName)}</dd>
            </div>
            <div>
              <dt>{t("adv_field_when")}</dt>
              <dd>{schedule}</dd>
            </div>
            <div>
              <dt>{t("adv_col_next")}</dt>
              <dd>{formatVn(advisory.next_due_ms ?? null)}</dd>
            </div>
          </dl>
          <h2>{t("adv_report")}</h2>
          {advisory.report.length === 0 && <p class="empty">{t("adv_report_none")}</p>}
          {advisory.report.map((run) => (
            <section key={run.run_ms} class="run" aria-label={t("adv_run", { time: formatVn(run.run_ms) })}>
              <h3>{t("adv_run", { time: formatVn(run.run_ms) })}</h3>
              {run.oas.map((oa) => {
                const parts = segments(oa).map((p) => ({ key: p.key, value: p.count, label: t(`seg_${p.key}` as Key) }));
                return (
                  <div key={oa.oa_id} class="run-oa">
                    <p class="run-oa-head">
                      <strong>{oaName(oa.oa_id)}</strong> · {t("adv_targeted", { count: oa.targeted })}
                    </p>
                    <StackedBar label={oaName(oa.oa_id)} total={Math.max(oa.targeted, 1)} segments={parts} />
                    <Legend segments={parts} />
                  </div>
                );
              })}
            </section>
          ))}
        </div>
        <ZaloPreview
          title={advisory.title}
          text={advisory.text}
          link={advisory.link ?? ""}
          linkTitle={advisory.link_title ?? ""}
          oa={senderName(!!advisory.target.province_wide, advisory.target.unit_ids ?? [], units)}
        />
      </div>
    </section>
  );
}
