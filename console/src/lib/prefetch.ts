// The inbox's first page, asked for as soon as a session exists (beside /v1/me), so the first screen
// waits for one round trip instead of two in a row. Used once, and only while fresh.
import type { Api, TipPageResult } from "../api/client";

const FRESH_MS = 5_000;
export interface Pages {
  newest: Promise<TipPageResult>;
  urgent: Promise<TipPageResult>;
}
let pending: { at: number; pages: Pages } | null = null;

export function prefetchInbox(api: Api, limit: number): void {
  const query = { limit };
  const get = (urgent: boolean) =>
    api.GET("/v1/tips", { params: { query: urgent ? { ...query, urgent } : query } }).then((answer) => {
      if (!answer.response.ok || !answer.data) throw new Error(`HTTP ${answer.response.status}`);
      return answer.data;
    });
  const pages = { newest: get(false), urgent: get(true) };
  for (const page of [pages.newest, pages.urgent]) page.catch(() => undefined); // the inbox reports failures
  pending = { at: Date.now(), pages };
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
