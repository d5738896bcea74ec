// Vietnam time (UTC+7, no daylight saving) computed by hand: the same on every machine and in tests,
// whatever the browser's or the test runner's time zone.
export const VN_OFFSET_MS = 7 * 3600 * 1000;
export const MINUTE_MS = 60_000;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

export interface VnParts {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number;
  minute: number;
  weekday: number; // 0 = Sunday
}

const pad = (n: number): string => String(n).padStart(2, "0");

export function toMs(at: string | number | null | undefined): number | null {
  if (at === null || at === undefined || at === "") return null;
  const ms = typeof at === "number" ? at : Date.parse(at);
  return Number.isFinite(ms) ? ms : null;
}

export function vnParts(ms: number): VnParts {
  const d = new Date(ms + VN_OFFSET_MS);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    weekday: d.getUTCDay(),
  };
}

/** "21:05 30/11/2026" (or "21:05" when `sameDayAs` is the same Vietnam day). */
export function formatVn(at: string | number | null | undefined, sameDayAs?: number): string {
  const ms = toMs(at);
  if (ms === null) return "—";
  const p = vnParts(ms);
  const time = `${pad(p.hour)}:${pad(p.minute)}`;
  if (sameDayAs !== undefined && vnDay(sameDayAs) === vnDay(ms)) return time;
  return `${time} ${pad(p.day)}/${pad(p.month)}/${p.year}`;
}

/** The Vietnam calendar day of an instant, as the API writes it: "2026-11-30". */
export function vnDay(ms: number): string {
  const p = vnParts(ms);
  return `${p.year}-${pad(p.month)}-${pad(p.day)}`;
}

/** "30/11" from "2026-11-30". */
export function shortDay(day: string): string {
  const [, m, d] = day.split("-");
  return `${d}/${m}`;
}

/** An <input type="datetime-local"> value read as Vietnam time ("2026-11-30T21:05"). */
export function vnInputToMs(value: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(value);
  if (!m) return null;
  const [, y, mo, d, h, mi] = m.map(Number) as [number, number, number, number, number, number];
  return Date.UTC(y, mo - 1, d, h, mi) - VN_OFFSET_MS;
}

export function msToVnInput(ms: number): string {
  const p = vnParts(ms);
  return `${p.year}-${pad(p.month)}-${pad(p.day)}T${pad(p.hour)}:${pad(p.minute)}`;
}

/** An <input type="date"> value: the end of that Vietnam day (23:59:59.999). */
export function vnDateEndToMs(value: string): number | null {
  const start = vnInputToMs(`${value}T00:00`);
  return start === null ? null : start + DAY_MS - 1;
}

export interface Span {
  days: number;
  hours: number;
  minutes: number;
}

export function span(ms: number): Span {
  const total = Math.max(0, Math.floor(ms / MINUTE_MS));
  return { days: Math.floor(total / 1440), hours: Math.floor((total % 1440) / 60), minutes: total % 60 };
}
