import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { must, type TipStatus, type TipSummary } from "../api/client";
import { ErrorBox, StatusChip, UnitOptions, UrgentBadge } from "../components/ui";
import { useApp } from "../context";
import { maybe } from "../i18n";
import { takePrefetched } from "../lib/prefetch";
import { filterLocal, looksLikeCode, newlyUrgent, PAGE, POLL_MS, sortInbox, tabTitle, unhandled } from "../lib/inbox";
import { href } from "../lib/router";
import { formatVn } from "../lib/time";

const STATUSES: TipStatus[] = ["new", "in_progress", "resolved", "rejected", "spam"];

interface Filters {
  status: TipStatus | "";
  urgent: boolean;
  mine: boolean;
  label: string;
  unit: string;
  code: string;
}

// Kept while the console is open (not in any storage): back from a tip, the inbox is as it was.
let remembered: Filters = { status: "", urgent: false, mine: false, label: "", unit: "", code: "" };

export function Inbox() {
  const { api, t, lang, me, units, unitName, setTitle } = useApp();
  const [filters, setFilters] = useState<Filters>(remembered);
  const [items, setItems] = useState<TipSummary[] | null>(null);
  const [more, setMore] = useState<TipSummary[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [updatedAt, setUpdatedAt] = useState<number | null>(null);
  const [search, setSearch] = useState(filters.code);
  const [searchError, setSearchError] = useState(false);
  const [notify, setNotify] = useState(typeof Notification !== "undefined" && Notification.permission === "granted");
  const known = useRef<Set<string> | null>(null);
  const commander = me.role === "commander";

  const show = useCallback(
    (found: TipSummary[], next: string | null) => {
      const sorted = sortInbox(found);
      if (notify) {
        for (const tip of newlyUrgent(known.current, sorted)) {
          new Notification(t("notify_title"), { body: t("notify_body", { code: tip.code }), tag: tip.tip_id });
        }
      }
      known.current = new Set(sorted.map((tip) => tip.tip_id));
      setItems(sorted);
      setCursor((current) => (more.length ? current : next));
      setError(null);
      setUpdatedAt(Date.now());
    },
    [notify, t, more.length],
  );

  const load = useCallback(async () => {
    const f = filters;
    const query = {
      status: f.status || undefined,
      unit: f.unit || undefined,
      assignee: f.mine ? me.subject : undefined,
      limit: PAGE,
    };
    try {
      if (f.code) {
        show(must(await api.GET("/v1/tips", { params: { query: { code: f.code, unit: query.unit } } })).items, null);
        return;
      }
      // The newest page and the urgent tips come separately (urgent ones may be older than the page);
      // the newest page is shown as soon as it comes, the urgent tips merged in when they arrive.
      const plain = !f.status && !f.unit && !f.mine && !f.urgent;
      const prefetched = plain ? takePrefetched() : null;
      const askUrgent = () => api.GET("/v1/tips", { params: { query: { ...query, urgent: true } } }).then(must);
      if (f.urgent) {
        const page = await askUrgent();
        show(page.items, page.next ?? null);
        return;
      }
      const newest = prefetched?.newest ?? api.GET("/v1/tips", { params: { query } }).then(must);
      const urgent = prefetched?.urgent ?? newest.then(askUrgent, askUrgent);
      let merged = false;
      void newest.then((page) => !merged && show(page.items, page.next ?? null), () => undefined);
      const [page, urgentPage] = await Promise.all([newest, urgent]);
      merged = true;
      show([...urgentPage.items, ...page.items], page.next ?? null);
    } catch (e) {
      setError(e);
    }
  }, [api, filters, me.subject, show]);

  useEffect(() => {
    void load();
    const timer = window.setInterval(() => void load(), POLL_MS);
    return () => window.clearInterval(timer);
  }, [load]);

  const shown = filterLocal(sortInbox([...(items ?? []), ...more]), { label: filters.label });
  useEffect(() => setTitle(tabTitle(unhandled(shown), t("inbox_title"))), [shown.length, items, lang]);

  const change = (patch: Partial<Filters>) => {
    remembered = { ...filters, ...patch };
    setFilters(remembered);
    setMore([]);
    setCursor(null);
    setItems(null);
  };

  const onSearch = (e: Event) => {
    e.preventDefault();
    const text = search.trim();
    if (text && !looksLikeCode(text)) {
      setSearchError(true);
      return;
    }
    setSearchError(false);
    change({ code: text });
  };

  const loadMore = async () => {
    if (!cursor) return;
    try {
      const page = must(
        await api.GET("/v1/tips", {
          params: {
            query: {
              status: filters.status || undefined,
              unit: filters.unit || undefined,
              assignee: filters.mine ? me.subject : undefined,
              limit: PAGE,
              cursor,
            },
          },
        }),
      );
      setMore((m) => [...m, ...page.items]);
      setCursor(page.next ?? null);
    } catch (e) {
      setError(e);
    }
  };

  const enableNotify = async () => {
    if (typeof Notification === "undefined") return;
    setNotify((await Notification.requestPermission()) === "granted");
  };

  const count = unhandled(shown);
  return (
    <section aria-labelledby="inbox-title">
      <div class="page-head">
        <h1 id="inbox-title">{t("inbox_title")}</h1>
        <p class="muted" aria-live="polite">
          {t("inbox_count", { count: shown.length })}
          {count > 0 && <> · <strong class="new-count">{t("inbox_new_count", { count })}</strong></>}
        </p>
      </div>
      <form class="search" role="search" onSubmit={onSearch}>
        <label for="code-search" class="visually-hidden">
          {t("inbox_search_label")}
        </label>
        <input
          id="code-search"
          type="search"
          inputMode="text"
          autoComplete="off"
          spellcheck={false}
          placeholder={t("inbox_search_placeholder")}
          aria-describedby={searchError ? "code-search-error" : undefined}
          value={search}
          onInput={(e) => setSearch(e.currentTarget.value)}
        />
        <button type="submit" class="btn btn-primary">
          {t("inbox_search")}
        </button>
        {filters.code && (
          <button type="button" class="btn" onClick={() => (setSearch(""), change({ code: "" }))}>
            {t("inbox_search_clear")}
          </button>
        )}
        {searchError && (
          <p id="code-search-error" class="field-error">
            {t("inbox_search_bad")}
          </p>
        )}
      </form>
      <details class="filters" open={!!(filters.status || filters.urgent || filters.mine || filters.label || filters.unit)}>
        <summary>{t("inbox_filters")}</summary>
        <div class="filter-grid">
          <div class="field">
            <label for="f-status">{t("inbox_filter_status")}</label>
            <select id="f-status" value={filters.status} onChange={(e) => change({ status: e.currentTarget.value as TipStatus | "" })}>
              <option value="">{t("inbox_filter_all")}</option>
              {STATUSES.map((s) => (
                <option key={s} value={s}>
                  {maybe(lang, `status_${s}`, s)}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="f-assignee">{t("inbox_filter_assignee")}</label>
            <select id="f-assignee" value={filters.mine ? "mine" : ""} onChange={(e) => change({ mine: e.currentTarget.value === "mine" })}>
              <option value="">{t("inbox_filter_anyone")}</option>
              <option value="mine">{t("inbox_filter_mine")}</option>
            </select>
          </div>
          <div class="field">
            <label for="f-label">{t("inbox_filter_label")}</label>
            <input id="f-label" type="text" value={filters.label} onChange={(e) => change({ label: e.currentTarget.value })} />
          </div>
          {commander && (
            <div class="field">
              <label for="f-unit">{t("inbox_filter_unit")}</label>
              <select id="f-unit" value={filters.unit} onChange={(e) => change({ unit: e.currentTarget.value })}>
                <UnitOptions units={units} empty={t("inbox_all_units")} />
              </select>
            </div>
          )}
          <div class="field field-check">
            <input id="f-urgent" type="checkbox" checked={filters.urgent} onChange={(e) => change({ urgent: e.currentTarget.checked })} />
            <label for="f-urgent">{t("inbox_filter_urgent")}</label>
          </div>
        </div>
      </details>
      {error !== null && <ErrorBox error={error} onRetry={() => void load()} />}
      {items === null && error === null && <p role="status">{t("loading")}</p>}
      {items !== null && shown.length === 0 && <p class="empty">{t("inbox_empty")}</p>}
      <ul class="tip-list" aria-label={t("inbox_title")}>
        {shown.map((tip) => (
          <li key={tip.tip_id} class={`tip-row${tip.urgent ? " is-urgent" : ""}${tip.status === "new" ? " is-new" : ""}`}>
            <a href={href({ name: "tip", tipId: tip.tip_id })} data-code={tip.code}>
              <span class="row-top">
                {tip.urgent && <UrgentBadge />}
                <span class="code">{tip.code}</span>
                <StatusChip status={tip.status} />
                <time class="when" dateTime={tip.last_activity_at ?? undefined}>
                  {formatVn(tip.last_activity_at, Date.now())}
                </time>
              </span>
              <span class="row-meta">
                {commander && <span>{unitName(tip.unit_id)}</span>}
                <span>
                  {t("citizen")} {tip.citizen}
                </span>
                <span>{t("tip_messages", { count: tip.message_count })}</span>
                <span>{t("tip_replies", { count: tip.reply_count })}</span>
                <span>{tip.assignee ? `→ ${tip.assignee}` : t("unassigned")}</span>
                {(tip.labels ?? []).map((label) => (
                  <span key={label} class="label">
                    {label}
                  </span>
                ))}
              </span>
            </a>
          </li>
        ))}
      </ul>
      {cursor && !filters.code && (
        <button type="button" class="btn btn-block" onClick={() => void loadMore()}>
          {t("inbox_more")}
        </button>
      )}
      <div class="inbox-foot">
        {updatedAt && <p class="muted small">{t("inbox_updated", { time: formatVn(updatedAt, updatedAt) })}</p>}
        {typeof Notification !== "undefined" && (
          <button type="button" class="btn btn-ghost btn-small" disabled={notify} onClick={() => void enableNotify()}>
            {notify ? t("inbox_notify_on") : t("inbox_notify")}
          </button>
        )}
      </div>
    </section>
  );
}
