import { describe, expect, it } from "vitest";
import type { OaReport } from "../src/api/client";
import { emptyDraft, messageText, segments, toInput } from "../src/lib/advisory";

const now = Date.UTC(2026, 0, 10, 1, 0); // 08:00 in Vietnam

describe("composing an advisory", () => {
  const draft = { ...emptyDraft(now), title: "Cảnh báo lừa đảo", text: "Không chuyển tiền.", units: ["u1"] };
  it("sends now by default, to the chosen units", () => {
    expect(toInput(draft, now)).toEqual({
      title: "Cảnh báo lừa đảo",
      text: "Không chuyển tiền.",
      link: null,
      link_title: null,
      category: "scam",
      target: { province_wide: false, unit_ids: ["u1"] },
      schedule: { at_ms: now },
    });
  });
  it("reads a one-off time as Vietnam time and refuses the past", () => {
    expect(toInput({ ...draft, repeat: "once", at: "2026-01-10T20:30" }, now)).toMatchObject({ schedule: { at_ms: Date.UTC(2026, 0, 10, 13, 30) } });
    expect(toInput({ ...draft, repeat: "once", at: "2026-01-09T20:30" }, now)).toBe("past");
    expect(toInput({ ...draft, repeat: "once", at: "" }, now)).toBe("when");
  });
  it("turns daily and weekly into a cron in Vietnam time with an end", () => {
    const weekly = toInput({ ...draft, repeat: "weekly", time: "07:05", weekday: 1, until: "2026-02-01" }, now);
    expect(weekly).toMatchObject({ schedule: { cron: "5 7 * * 1", end_ms: Date.UTC(2026, 1, 1, 17, 0) - 1 } });
    expect(toInput({ ...draft, repeat: "daily", time: "07:05", until: "2026-01-01" }, now)).toBe("until");
  });
  it("names the first thing to fix", () => {
    expect(toInput({ ...draft, title: " " }, now)).toBe("title");
    expect(toInput({ ...draft, text: "x".repeat(2001) }, now)).toBe("text_too_long");
    expect(toInput({ ...draft, link: "javascript:alert(1)" }, now)).toBe("link");
    expect(toInput({ ...draft, units: [] }, now)).toBe("target");
    expect(toInput({ ...draft, units: [], provinceWide: true }, now)).toMatchObject({ target: { province_wide: true, unit_ids: [] } });
  });
  it("previews the very text a citizen receives", () => {
    expect(messageText("Tiêu đề", "Nội dung", "https://x.vn")).toBe("Tiêu đề\n\nNội dung\n\nhttps://x.vn");
    expect(messageText("T", "x".repeat(3000), "")).toHaveLength(2000);
  });
});

describe("a run's report as bars", () => {
  it("cuts seen ⊂ received ⊂ sent into segments that add up to the recipients", () => {
    const report: OaReport = { oa_id: "1", targeted: 20, sent: 10, received: 7, seen: 4, deferred: 3, pending: 2, failed: { "-230": 1 }, skipped: { opted_out: 3, not_following: 1 } };
    const parts = Object.fromEntries(segments(report).map((s) => [s.key, s.count]));
    expect(parts).toEqual({ seen: 4, received: 3, sent: 3, deferred: 3, pending: 2, skipped: 4, failed: 1 });
    expect(Object.values(parts).reduce((a, b) => a + b, 0)).toBe(report.targeted);
  });
});
