import { toMs } from "./time";

/** Zalo's limit for a consultation text message (characters), the API's ReplyRequest max_length. */
export const ZALO_TEXT_LIMIT = 2000;
/** Zalo lets an OA answer within 7 days of the citizen's last interaction. */
export const REPLY_WINDOW_DAYS = 7;

/** Characters as Zalo and the API count them (code points: an emoji is one). */
export function charCount(text: string): number {
  return [...text].length;
}

export type ReplyWindow =
  | { state: "open"; remainingMs: number }
  | { state: "closed"; closedAt: number }
  | { state: "refused"; reason: "withdrawn" | "anonymous" };

export function replyWindow(
  replyUntil: string | null | undefined,
  refused: "withdrawn" | "anonymous" | null | undefined,
  nowMs: number,
): ReplyWindow {
  if (refused) return { state: "refused", reason: refused };
  const until = toMs(replyUntil);
  if (until === null) return { state: "refused", reason: "withdrawn" };
  return until > nowMs ? { state: "open", remainingMs: until - nowMs } : { state: "closed", closedAt: until };
}

export type ReplyCheck = "empty" | "too_long" | "window" | "ok";

export function checkReply(text: string, window: ReplyWindow): ReplyCheck {
  if (window.state !== "open") return "window";
  if (!text.trim()) return "empty";
  return charCount(text) > ZALO_TEXT_LIMIT ? "too_long" : "ok";
}
