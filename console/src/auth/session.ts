// The signed-in session: the token lives in memory, mirrored in sessionStorage (this tab only, gone
// when the tab closes) so a reload keeps the officer signed in. Nothing else is ever stored: no tip,
// no text, nothing decrypted. Sign-out, on demand or after 15 idle minutes, clears every storage.

import type { Me } from "../api/client";

export const IDLE_LIMIT_MS = 15 * 60 * 1000;
const KEY = "tipline.session";
export const PKCE_KEY = "tipline.pkce";

export interface Session {
  token: string;
  expiresAtMs: number;
  lastActiveMs: number;
}

export interface SessionStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
  clear(): void;
}

export function expiresAt(claims: Record<string, unknown>): number {
  return typeof claims.exp === "number" ? claims.exp * 1000 : 0;
}

/** Still usable: not expired, and not idle for 15 minutes. */
export function isLive(session: Session | null, nowMs: number): session is Session {
  return !!session && session.expiresAtMs > nowMs && nowMs - session.lastActiveMs < IDLE_LIMIT_MS;
}

export function save(store: SessionStore, session: Session): void {
  store.setItem(KEY, JSON.stringify(session));
}

export function restore(store: SessionStore, nowMs: number): Session | null {
  try {
    const raw = store.getItem(KEY);
    if (!raw) return null;
    const session = JSON.parse(raw) as Session;
    if (typeof session.token !== "string" || !isLive(session, nowMs)) {
      store.removeItem(KEY);
      return null;
    }
    return session;
  } catch {
    store.removeItem(KEY);
    return null;
  }
}

/** Everything the browser could hold of the session, gone. */
export async function wipeBrowserStorage(): Promise<void> {
  try {
    sessionStorage.clear();
    localStorage.clear();
  } catch {
    /* storage disabled: nothing was written either */
  }
  for (const cookie of document.cookie.split(";")) {
    const name = cookie.split("=")[0]?.trim();
    if (name) document.cookie = `${name}=; Max-Age=0; path=/`;
  }
  if ("caches" in window) {
    for (const name of await caches.keys()) await caches.delete(name);
  }
  const databases = indexedDB.databases ? await indexedDB.databases() : [];
  for (const db of databases) if (db.name) indexedDB.deleteDatabase(db.name);
}

/** Who the token says is signed in (Cognito ID token claims), until /v1/me answers. */
export function meFromClaims(claims: Record<string, unknown>): Me | null {
  const groups = claims["cognito:groups"];
  const list = Array.isArray(groups) ? groups.map(String) : [];
  const unit = typeof claims["custom:unit_id"] === "string" ? claims["custom:unit_id"] : "";
  const subject = typeof claims.sub === "string" ? claims.sub : "";
  if (!subject || !(list.includes("commander") || (list.includes("officer") && unit))) return null;
  return { subject, unit_id: unit, unit_name: unit, role: list.includes("commander") ? "commander" : "officer" };
}
