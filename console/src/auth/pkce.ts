// OAuth 2.0 authorization code + PKCE (RFC 7636) against Cognito's hosted sign-in.
import type { ConsoleConfig } from "./config";

type Cognito = Extract<ConsoleConfig, { auth: "cognito" }>;

export function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A code verifier: 32 random bytes, 43 characters of base64url (RFC 7636 allows 43-128). */
export function newVerifier(random: (bytes: Uint8Array) => Uint8Array = (b) => crypto.getRandomValues(b)): string {
  return base64url(random(new Uint8Array(32)));
}

export async function challengeOf(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

export function authorizeUrl(config: Cognito, state: string, challenge: string): string {
  const query = new URLSearchParams({
    response_type: "code",
    client_id: config.client_id,
    redirect_uri: config.redirect_uri,
    scope: (config.scopes ?? ["openid", "email"]).join(" "),
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  return `${config.domain}/oauth2/authorize?${query}`;
}

export function tokenRequest(config: Cognito, code: string, verifier: string): { url: string; body: URLSearchParams } {
  return {
    url: `${config.domain}/oauth2/token`,
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: config.client_id,
      code,
      redirect_uri: config.redirect_uri,
      code_verifier: verifier,
    }),
  };
}

export function logoutUrl(config: Cognito): string {
  const query = new URLSearchParams({
    client_id: config.client_id,
    logout_uri: config.logout_uri ?? config.redirect_uri,
  });
  return `${config.domain}/logout?${query}`;
}

export type Callback = { code: string; state: string } | { error: string } | null;

/** What Cognito put in the query string on its way back, if anything. */
export function parseCallback(search: string): Callback {
  const query = new URLSearchParams(search);
  const error = query.get("error");
  if (error) return { error: query.get("error_description") ?? error };
  const code = query.get("code");
  const state = query.get("state");
  return code && state ? { code, state } : null;
}

/** The claims of a JWT, unverified: only to read its expiry; the API verifies tokens. */
export function jwtClaims(token: string): Record<string, unknown> {
  const part = token.split(".")[1];
  if (!part) throw new Error("not a JWT");
  const padded = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
  const json = new TextDecoder().decode(Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)));
  return JSON.parse(json) as Record<string, unknown>;
}
