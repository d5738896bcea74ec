import { describe, expect, it } from "vitest";
import { charCount, checkReply, replyWindow, ZALO_TEXT_LIMIT } from "../src/lib/reply";

const now = Date.UTC(2026, 0, 10, 12, 0);
const iso = (ms: number) => new Date(ms).toISOString();

describe("the reply box", () => {
  it("counts characters as Zalo and the API do (an emoji is one)", () => {
    expect(charCount("Cảm ơn")).toBe(6);
    expect(charCount("👍🏻")).toBe(2);
    expect(charCount("a👍")).toBe(2);
    expect(ZALO_TEXT_LIMIT).toBe(2000);
  });
  it("is open until the 7-day window closes, then says when it closed", () => {
    expect(replyWindow(iso(now + 3600_000), null, now)).toEqual({ state: "open", remainingMs: 3600_000 });
    expect(replyWindow(iso(now), null, now)).toEqual({ state: "closed", closedAt: now });
  });
  it("says why a citizen can never be answered", () => {
    expect(replyWindow(null, "anonymous", now)).toEqual({ state: "refused", reason: "anonymous" });
    expect(replyWindow(null, null, now)).toEqual({ state: "refused", reason: "withdrawn" });
  });
  it("refuses empty, too long and out-of-window answers before sending", () => {
    const open = replyWindow(iso(now + 1000), null, now);
    expect(checkReply("   ", open)).toBe("empty");
    expect(checkReply("x".repeat(2000), open)).toBe("ok");
    expect(checkReply("x".repeat(2001), open)).toBe("too_long");
    expect(checkReply("xin chào", replyWindow(iso(now - 1), null, now))).toBe("window");
  });
});
