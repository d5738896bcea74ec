// The inbox's first page, asked for as soon as a session exists (beside /v1/me), so the first screen
// waits for one round trip instead of two in a row. Used once, and only while fresh.
import type { Api, TipPageResult } from "../api/client";

const FRESH_MS = 5_000;
export interface Pages {
  newest: Promise<TipPageResult>;
  urgent: Promise<TipPageResult>;
}
let pending: { at: number; pages: Pages } | null = null;

/** Ask for the first page now; the promise settles when the newest page has answered. */
export function prefetchInbox(api: Api, limit: number): Promise<void> {
  const query = { limit };
  const get = (urgent: boolean) =>
    api.GET("/v1/tips", { params: { query: urgent ? { ...query, urgent } : query } }).then((answer) => {
      if (!answer.response.ok || !answer.data) throw new Error(`HTTP ${answer.response.status}`);
      return answer.data;
    });
  // The urgent query (filtered server-side, several rounds on a big unit) waits for the newest page,
  // so the first screen does not share the API with it.
  const newest = get(false);
  const pages = { newest, urgent: newest.then(() => get(true), () => get(true)) };
  for (const page of [pages.newest, pages.urgent]) page.catch(() => undefined); // the inbox reports failures
  pending = { at: Date.now(), pages };
  return newest.then(
    () => undefined,
    () => undefined,
  );
}

/** The prefetched pages, once, if asked for less than 5 s ago. */
export function takePrefetched(): Pages | null {
  const taken = pending && Date.now() - pending.at < FRESH_MS ? pending.pages : null;
  pending = null;
  return taken;
}

export function dropPrefetched(): void {
  pending = null;
}
