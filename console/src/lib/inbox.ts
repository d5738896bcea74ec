import type { TipSummary } from "../api/client";
import { toMs } from "./time";

export const POLL_MS = 10_000; // new tips show within 15 s without a reload
export const PAGE = 50;
const OPEN = new Set(["new", "in_progress"]);

/** Urgent open tips first, then by latest activity, newest first; each tip once. */
export function sortInbox(items: TipSummary[]): TipSummary[] {
  const unique = new Map<string, TipSummary>();
  for (const item of items) if (!unique.has(item.tip_id)) unique.set(item.tip_id, item);
  return [...unique.values()].sort((a, b) => {
    const urgentA = a.urgent && OPEN.has(a.status) ? 1 : 0;
    const urgentB = b.urgent && OPEN.has(b.status) ? 1 : 0;
    if (urgentA !== urgentB) return urgentB - urgentA;
    return (toMs(b.last_activity_at) ?? 0) - (toMs(a.last_activity_at) ?? 0);
  });
}

/** Tips nobody has started on: the number on the tab's title. */
export function unhandled(items: TipSummary[]): number {
  return items.filter((t) => t.status === "new").length;
}

export function tabTitle(count: number, screen: string): string {
  return `${count > 0 ? `(${count}) ` : ""}${screen} · Zalo Tipline`;
}

/** Urgent tips in `items` that were not in the previous poll (for a browser notification). */
export function newlyUrgent(previous: ReadonlySet<string> | null, items: TipSummary[]): TipSummary[] {
  if (previous === null) return [];
  return items.filter((t) => t.urgent && t.status === "new" && !previous.has(t.tip_id));
}

/** A search box entry that can be a tip code (5 + 5 characters, dash optional). */
export function looksLikeCode(text: string): boolean {
  return /^[0-9a-z]{5}-?[0-9a-z*~$=]{5}$/i.test(text.trim());
}

export interface LocalFilters {
  label: string;
}

/** What the API cannot filter on (labels) is filtered on the loaded page. */
export function filterLocal(items: TipSummary[], filters: LocalFilters): TipSummary[] {
  const label = filters.label.trim().toLowerCase();
  if (!label) return items;
  return items.filter((t) => (t.labels ?? []).some((l) => l.toLowerCase().includes(label)));
}
