import type { UnitStats } from "../api/client";

export const STATUSES = ["new", "in_progress", "resolved", "rejected", "spam"] as const;

export interface Totals {
  total: number;
  urgent: number;
  urgentShare: number | null;
  byStatus: Record<string, number>;
  perDay: [string, number][];
  repliesSent: number;
  repliesDelivered: number;
  deliveryRate: number | null;
  /** One unit: its median; several: null (medians do not add up; see the per-unit chart). */
  medianMinutes: number | null;
}

export function totals(units: UnitStats[]): Totals {
  const byStatus: Record<string, number> = Object.fromEntries(STATUSES.map((s) => [s, 0]));
  const perDay = new Map<string, number>();
  let total = 0;
  let urgent = 0;
  let sent = 0;
  let delivered = 0;
  for (const unit of units) {
    const count = unit.total ?? Object.values(unit.by_status).reduce((a, b) => a + b, 0);
    total += count;
    urgent += unit.urgent;
    sent += unit.replies_sent ?? 0;
    delivered += unit.replies_delivered ?? 0;
    for (const [status, n] of Object.entries(unit.by_status)) byStatus[status] = (byStatus[status] ?? 0) + n;
    for (const [day, n] of Object.entries(unit.per_day ?? {})) perDay.set(day, (perDay.get(day) ?? 0) + n);
  }
  return {
    total,
    urgent,
    urgentShare: total ? urgent / total : null,
    byStatus,
    perDay: [...perDay.entries()].sort(([a], [b]) => a.localeCompare(b)),
    repliesSent: sent,
    repliesDelivered: delivered,
    deliveryRate: sent ? delivered / sent : null,
    medianMinutes: units.length === 1 ? (units[0]?.median_minutes_to_first_reply ?? null) : null,
  };
}

/** A round axis maximum at or above `value` (1, 2, 5 × 10^n), never 0. */
export function niceMax(value: number): number {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

/** Axis ticks for a maximum from niceMax: every integer up to 5, else 0, half and the maximum. */
export function ticks(max: number): number[] {
  if (max <= 5) return Array.from({ length: max + 1 }, (_, i) => i);
  return [0, max / 2, max];
}

export function percent(share: number | null): string {
  return share === null ? "—" : `${Math.round(share * 1000) / 10}%`;
}

export type Duration = { key: "dur_none" } | { key: "dur_under_minute" } | { key: "dur_minutes"; m: number } | { key: "dur_hours"; h: number; m: number };

/** A duration in minutes as a catalogue entry and its numbers (the words are the catalogue's). */
export function duration(value: number | null | undefined): Duration {
  if (value === null || value === undefined) return { key: "dur_none" };
  if (value < 1) return { key: "dur_under_minute" };
  if (value < 60) return { key: "dur_minutes", m: Math.round(value) };
  const h = Math.floor(value / 60);
  return { key: "dur_hours", h, m: Math.round(value - h * 60) };
}
