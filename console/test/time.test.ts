import { describe, expect, it } from "vitest";
import { formatVn, msToVnInput, shortDay, span, vnDateEndToMs, vnDay, vnInputToMs } from "../src/lib/time";

describe("Vietnam time, whatever the machine's zone", () => {
  const at = Date.UTC(2025, 11, 31, 16, 30); // 23:30 on 31 Dec in Vietnam (UTC+7)
  it("formats in Vietnam time", () => {
    expect(formatVn(at)).toBe("23:30 31/12/2025");
    expect(formatVn(new Date(at).toISOString())).toBe("23:30 31/12/2025");
    expect(formatVn(at + 60 * 60_000)).toBe("00:30 01/01/2026");
  });
  it("drops the date on the same Vietnam day only", () => {
    expect(formatVn(at, at - 3600_000)).toBe("23:30");
    expect(formatVn(at, at + 3600_000)).toBe("23:30 31/12/2025");
  });
  it("is a dash for nothing or nonsense", () => {
    expect(formatVn(null)).toBe("—");
    expect(formatVn("not a time")).toBe("—");
  });
  it("names the Vietnam day as the API does", () => {
    expect(vnDay(at)).toBe("2025-12-31");
    expect(vnDay(at + 30 * 60_000)).toBe("2026-01-01");
    expect(shortDay("2026-01-01")).toBe("01/01");
  });
  it("reads form inputs as Vietnam time and back", () => {
    expect(vnInputToMs("2025-12-31T23:30")).toBe(at);
    expect(msToVnInput(at)).toBe("2025-12-31T23:30");
    expect(vnInputToMs("31/12/2025")).toBeNull();
    expect(vnDateEndToMs("2025-12-31")).toBe(Date.UTC(2025, 11, 31, 17, 0) - 1);
  });
  it("splits a span into days, hours and minutes", () => {
    expect(span(((6 * 24 + 23) * 60 + 59) * 60_000 + 59_000)).toEqual({ days: 6, hours: 23, minutes: 59 });
    expect(span(-5)).toEqual({ days: 0, hours: 0, minutes: 0 });
  });
});
