import type { AdvisoryInput, Category, OaReport } from "../api/client";
import { DAY_MS, vnDateEndToMs, vnInputToMs, vnParts } from "./time";

export const TITLE_LIMIT = 100;
export const TEXT_LIMIT = 2000;
export const CATEGORIES: Category[] = ["scam", "theft", "traffic", "drugs", "public_health", "other"];

/** What a citizen receives, as the API builds it (Advisory.message_text). */
export function messageText(title: string, text: string, link: string): string {
  return [title, text, ...(link ? [link] : [])].join("\n\n").slice(0, TEXT_LIMIT);
}

export type Repeat = "now" | "once" | "daily" | "weekly";

export interface Draft {
  title: string;
  text: string;
  link: string;
  linkTitle: string;
  category: Category;
  provinceWide: boolean;
  units: string[];
  repeat: Repeat;
  at: string; // datetime-local, Vietnam time (once)
  time: string; // HH:MM, Vietnam time (daily, weekly)
  weekday: number; // 0 = Sunday (weekly)
  until: string; // date (recurring)
}

export function emptyDraft(nowMs: number): Draft {
  const p = vnParts(nowMs + 30 * 7 * DAY_MS);
  const until = `${p.year}-${String(p.month).padStart(2, "0")}-${String(p.day).padStart(2, "0")}`;
  return {
    title: "",
    text: "",
    link: "",
    linkTitle: "",
    category: "scam",
    provinceWide: false,
    units: [],
    repeat: "now",
    at: "",
    time: "08:00",
    weekday: 1,
    until,
  };
}

export type DraftProblem =
  | "title"
  | "text"
  | "text_too_long"
  | "link"
  | "target"
  | "when"
  | "past"
  | "until";

/** The API's AdvisoryInput for a draft, or the first thing to fix. */
export function toInput(draft: Draft, nowMs: number): AdvisoryInput | DraftProblem {
  if (!draft.title.trim() || draft.title.length > TITLE_LIMIT) return "title";
  if (!draft.text.trim()) return "text";
  if ([...draft.text].length > TEXT_LIMIT) return "text_too_long";
  if (draft.link && !/^https?:\/\/[^\s]+$/.test(draft.link)) return "link";
  if (!draft.provinceWide && draft.units.length === 0) return "target";
  let schedule: AdvisoryInput["schedule"];
  if (draft.repeat === "now" || draft.repeat === "once") {
    const at = draft.repeat === "now" ? nowMs : vnInputToMs(draft.at);
    if (at === null) return "when";
    if (draft.repeat === "once" && at < nowMs - 60_000) return "past";
    schedule = { at_ms: at };
  } else {
    const m = /^(\d{2}):(\d{2})$/.exec(draft.time);
    const end = vnDateEndToMs(draft.until);
    if (!m) return "when";
    if (end === null || end < nowMs) return "until";
    const day = draft.repeat === "weekly" ? String(draft.weekday) : "*";
    schedule = { cron: `${Number(m[2])} ${Number(m[1])} * * ${day}`, end_ms: end };
  }
  return {
    title: draft.title.trim(),
    text: draft.text,
    link: draft.link || null,
    link_title: draft.link ? draft.linkTitle.trim() || null : null,
    category: draft.category,
    target: draft.provinceWide ? { province_wide: true, unit_ids: [] } : { province_wide: false, unit_ids: draft.units },
    schedule,
  };
}

export const SEGMENTS = ["seen", "received", "sent", "deferred", "pending", "skipped", "failed"] as const;
export type Segment = (typeof SEGMENTS)[number];

/** One OA's run as stacked, non-overlapping segments (seen ⊂ received ⊂ sent), summing to the total. */
export function segments(report: OaReport): { key: Segment; count: number }[] {
  const sum = (counts: Record<string, number> | undefined) => Object.values(counts ?? {}).reduce((a, b) => a + b, 0);
  const values: Record<Segment, number> = {
    seen: report.seen,
    received: Math.max(0, report.received - report.seen),
    sent: Math.max(0, report.sent - report.received),
    deferred: report.deferred,
    pending: report.pending,
    skipped: sum(report.skipped),
    failed: sum(report.failed),
  };
  return SEGMENTS.map((key) => ({ key, count: values[key] }));
}
