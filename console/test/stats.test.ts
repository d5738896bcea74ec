import { describe, expect, it } from "vitest";
import type { UnitStats } from "../src/api/client";
import { duration, niceMax, percent, ticks, totals } from "../src/lib/stats";

const unit = (id: string, patch: Partial<UnitStats>): UnitStats => ({
  unit_id: id,
  by_status: {},
  urgent: 0,
  median_minutes_to_first_reply: null,
  total: 0,
  replies_sent: 0,
  replies_delivered: 0,
  ...patch,
});

describe("statistics", () => {
  it("adds units up: status, days, urgent share and delivery rate", () => {
    const sum = totals([
      unit("a", { total: 3, by_status: { new: 2, resolved: 1 }, urgent: 1, per_day: { "2026-01-01": 1, "2026-01-02": 2 }, replies_sent: 4, replies_delivered: 3, median_minutes_to_first_reply: 12 }),
      unit("b", { total: 1, by_status: { spam: 1 }, urgent: 0, per_day: { "2026-01-02": 1 }, replies_sent: 0, replies_delivered: 0, median_minutes_to_first_reply: 30 }),
    ]);
    expect(sum.total).toBe(4);
    expect(sum.byStatus).toEqual({ new: 2, in_progress: 0, resolved: 1, rejected: 0, spam: 1 });
    expect(sum.perDay).toEqual([["2026-01-01", 1], ["2026-01-02", 3]]);
    expect(sum.urgentShare).toBe(0.25);
    expect(sum.deliveryRate).toBe(0.75);
    expect(sum.medianMinutes).toBeNull(); // medians of two units do not combine
    expect(totals([unit("a", { median_minutes_to_first_reply: 12 })]).medianMinutes).toBe(12);
  });
  it("has no rate without data", () => {
    const sum = totals([]);
    expect([sum.urgentShare, sum.deliveryRate, percent(sum.deliveryRate)]).toEqual([null, null, "—"]);
  });
  it("rounds chart axes and keeps small ones in whole tips", () => {
    expect([0, 1, 3, 7, 12, 51, 100].map(niceMax)).toEqual([1, 1, 5, 10, 20, 100, 100]);
    expect(ticks(1)).toEqual([0, 1]);
    expect(ticks(20)).toEqual([0, 10, 20]);
  });
  it("writes durations and shares for officers", () => {
    expect([duration(0.4), duration(12.4), duration(135), duration(null)]).toEqual([
      { key: "dur_under_minute" },
      { key: "dur_minutes", m: 12 },
      { key: "dur_hours", h: 2, m: 15 },
      { key: "dur_none" },
    ]);
    expect(percent(0.1234)).toBe("12.3%");
  });
});
