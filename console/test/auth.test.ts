import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../src/auth/config";
import { authorizeUrl, base64url, challengeOf, jwtClaims, logoutUrl, newVerifier, parseCallback, tokenRequest } from "../src/auth/pkce";
import { IDLE_LIMIT_MS, isLive, meFromClaims, restore, save, type SessionStore } from "../src/auth/session";

const cognito = parseConfig({
  auth: "cognito",
  domain: "https://tipline.auth.ap-southeast-1.amazoncognito.com/",
  client_id: "abc123",
  redirect_uri: "https://d1.cloudfront.net/",
});

class Memory implements SessionStore {
  items = new Map<string, string>();
  getItem(key: string) {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string) {
    this.items.set(key, value);
  }
  removeItem(key: string) {
    this.items.delete(key);
  }
  clear() {
    this.items.clear();
  }
}

describe("PKCE with Cognito", () => {
  it("makes a 43-character verifier and its S256 challenge (RFC 7636 appendix B)", async () => {
    expect(newVerifier()).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(newVerifier()).not.toBe(newVerifier());
    expect(await challengeOf("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")).toBe("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    const verifier = newVerifier();
    expect(await challengeOf(verifier)).toBe(base64url(createHash("sha256").update(verifier).digest()));
  });
  it("sends the officer to the hosted sign-in with the challenge and state", () => {
    const url = new URL(authorizeUrl(cognito as Extract<typeof cognito, { auth: "cognito" }>, "st4te", "ch4llenge"));
    expect(url.origin + url.pathname).toBe("https://tipline.auth.ap-southeast-1.amazoncognito.com/oauth2/authorize");
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: "code",
      client_id: "abc123",
      redirect_uri: "https://d1.cloudfront.net/",
      scope: "openid email",
      state: "st4te",
      code_challenge: "ch4llenge",
      code_challenge_method: "S256",
    });
  });
  it("exchanges the code with the verifier, and signs out through Cognito", () => {
    const config = cognito as Extract<typeof cognito, { auth: "cognito" }>;
    const request = tokenRequest(config, "the-code", "the-verifier");
    expect(request.url).toBe("https://tipline.auth.ap-southeast-1.amazoncognito.com/oauth2/token");
    expect(Object.fromEntries(request.body)).toEqual({
      grant_type: "authorization_code",
      client_id: "abc123",
      code: "the-code",
      redirect_uri: "https://d1.cloudfront.net/",
      code_verifier: "the-verifier",
    });
    expect(logoutUrl(config)).toBe("https://tipline.auth.ap-southeast-1.amazoncognito.com/logout?client_id=abc123&logout_uri=https%3A%2F%2Fd1.cloudfront.net%2F");
  });
  it("reads Cognito's way back", () => {
    expect(parseCallback("?code=c&state=s")).toEqual({ code: "c", state: "s" });
    expect(parseCallback("?error=access_denied&error_description=no")).toEqual({ error: "no" });
    expect(parseCallback("")).toBeNull();
  });
  it("reads the config make console-publish writes from the stack's outputs", () => {
    expect(
      parseConfig({
        apiBase: "/v1",
        region: "ap-southeast-1",
        userPoolId: "ap-southeast-1_x",
        clientId: "c1",
        signInDomain: "https://tipline-prod-1.auth.ap-southeast-1.amazoncognito.com",
        redirectUri: "https://d1.cloudfront.net/",
        logoutUri: "https://d1.cloudfront.net/",
        scopes: ["openid", "email", "profile"],
      }),
    ).toEqual({
      auth: "cognito",
      domain: "https://tipline-prod-1.auth.ap-southeast-1.amazoncognito.com",
      client_id: "c1",
      redirect_uri: "https://d1.cloudfront.net/",
      logout_uri: "https://d1.cloudfront.net/",
      scopes: ["openid", "email", "profile"],
    });
  });
  it("refuses a config it cannot use", () => {
    expect(parseConfig({ auth: "local" })).toEqual({ auth: "local" });
    expect(() => parseConfig({ auth: "cognito", domain: "http://x", client_id: "a", redirect_uri: "b" })).toThrow(/https/);
    expect(() => parseConfig({ auth: "cognito" })).toThrow(/signInDomain/);
    expect(() => parseConfig({ auth: "saml" })).toThrow();
  });
  it("reads a token's claims (not verified: the API does that)", () => {
    const payload = Buffer.from(JSON.stringify({ exp: 1_800_000_000, "custom:unit_id": "Hoàn Kiếm" })).toString("base64url");
    expect(jwtClaims(`h.${payload}.s`)).toEqual({ exp: 1_800_000_000, "custom:unit_id": "Hoàn Kiếm" });
  });
});

describe("the session", () => {
  const now = 1_800_000_000_000;
  const session = { token: "t", expiresAtMs: now + 3600_000, lastActiveMs: now };
  it("ends after 15 idle minutes or at expiry", () => {
    expect(IDLE_LIMIT_MS).toBe(15 * 60_000);
    expect(isLive(session, now + IDLE_LIMIT_MS - 1)).toBe(true);
    expect(isLive(session, now + IDLE_LIMIT_MS)).toBe(false);
    expect(isLive({ ...session, lastActiveMs: now + 3600_000 }, now + 3600_000)).toBe(false);
    expect(isLive(null, now)).toBe(false);
  });
  it("survives a reload of the tab only while live, and an idle one is removed", () => {
    const store = new Memory();
    save(store, session);
    expect(restore(store, now + 60_000)).toEqual(session);
    expect(restore(store, now + IDLE_LIMIT_MS + 1)).toBeNull();
    expect(store.items.size).toBe(0);
    store.setItem("tipline.session", "{not json");
    expect(restore(store, now)).toBeNull();
    expect(store.items.size).toBe(0);
  });
});

describe("who the token says is signed in (shown until /v1/me answers)", () => {
  it("reads Cognito's groups and unit as the API does", () => {
    expect(meFromClaims({ sub: "o1", "cognito:groups": ["officer"], "custom:unit_id": "u1" })).toEqual({ subject: "o1", unit_id: "u1", unit_name: "u1", role: "officer" });
    expect(meFromClaims({ sub: "c1", "cognito:groups": ["officer", "commander"], "custom:unit_id": "" })?.role).toBe("commander");
    expect(meFromClaims({ sub: "o1", "cognito:groups": ["officer"] })).toBeNull(); // an officer without a unit
    expect(meFromClaims({ sub: "o1", "cognito:groups": ["viewer"], "custom:unit_id": "u1" })).toBeNull();
    expect(meFromClaims({ "cognito:groups": ["commander"] })).toBeNull();
  });
});
