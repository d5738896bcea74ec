import { describe, expect, it } from "vitest";
import type { TipSummary } from "../src/api/client";
import { filterLocal, looksLikeCode, newlyUrgent, sortInbox, tabTitle, unhandled } from "../src/lib/inbox";

function tip(id: string, minutesAgo: number, patch: Partial<TipSummary> = {}): TipSummary {
  const at = new Date(Date.UTC(2026, 0, 1) - minutesAgo * 60_000).toISOString();
  return {
    tip_id: id,
    code: `CODE${id}`,
    unit_id: "u1",
    status: "new",
    urgent: false,
    created_at: at,
    last_activity_at: at,
    message_count: 1,
    reply_count: 0,
    citizen: "C-1",
    assignee: null,
    labels: [],
    ...patch,
  };
}

describe("the inbox", () => {
  it("puts open urgent tips first, then the newest activity, each tip once", () => {
    const items = [tip("a", 1), tip("b", 30, { urgent: true }), tip("c", 5), tip("b", 30, { urgent: true }), tip("d", 0, { urgent: true, status: "resolved" })];
    expect(sortInbox(items).map((t) => t.tip_id)).toEqual(["b", "d", "a", "c"]);
  });
  it("counts new tips for the tab title", () => {
    const items = [tip("a", 1), tip("b", 2, { status: "in_progress" }), tip("c", 3)];
    expect(unhandled(items)).toBe(2);
    expect(tabTitle(2, "Hộp tin báo")).toBe("(2) Hộp tin báo · Zalo Tipline");
    expect(tabTitle(0, "Hộp tin báo")).toBe("Hộp tin báo · Zalo Tipline");
  });
  it("notices urgent tips that were not there at the last poll, never on the first", () => {
    const items = [tip("a", 1, { urgent: true }), tip("b", 2, { urgent: true }), tip("c", 3)];
    expect(newlyUrgent(null, items)).toEqual([]);
    expect(newlyUrgent(new Set(["a"]), items).map((t) => t.tip_id)).toEqual(["b"]);
  });
  it("recognises a tip code as a citizen may type it", () => {
    expect(looksLikeCode("7KQ2M-XD4PA")).toBe(true);
    expect(looksLikeCode(" 7kq2mxd4p* ")).toBe(true);
    expect(looksLikeCode("7KQ2M")).toBe(false);
    expect(looksLikeCode("lừa đảo")).toBe(false);
  });
  it("filters the loaded page by label, case-insensitively", () => {
    const items = [tip("a", 1, { labels: ["Lừa đảo"] }), tip("b", 2, { labels: ["trộm"] })];
    expect(filterLocal(items, { label: "lừa" }).map((t) => t.tip_id)).toEqual(["a"]);
    expect(filterLocal(items, { label: " " })).toHaveLength(2);
  });
});
