// The runtime configuration, /config.json beside index.html: written by the local stack, and by
// `make deploy` in AWS (from the stack's outputs). Nothing secret: a public client id and URLs.
export type ConsoleConfig =
  | { auth: "local" }
  | {
      auth: "cognito";
      /** The Cognito domain, e.g. https://tipline-prod.auth.ap-southeast-1.amazoncognito.com */
      domain: string;
      client_id: string;
      /** This console's URL (the app client's callback URL), e.g. https://d123.cloudfront.net/ */
      redirect_uri: string;
      /** Where Cognito's /logout returns (defaults to redirect_uri). */
      logout_uri?: string;
      scopes?: string[];
    };

/**
 * The config as the local stack writes it (`{"auth": "local"}`), or as `make console-publish`
 * writes it from the stack's outputs (tipline_ops.console_publish.runtime_config: `signInDomain`,
 * `clientId`, `redirectUri`, `logoutUri`, `scopes`, ...); `auth: "cognito"` with snake_case keys
 * is read too.
 */
export function parseConfig(raw: unknown): ConsoleConfig {
  if (!raw || typeof raw !== "object") throw new Error("config.json is not an object");
  const value = raw as Record<string, unknown>;
  if (value.auth === "local") return { auth: "local" };
  const pick = (...names: string[]) => {
    for (const name of names) if (typeof value[name] === "string" && value[name]) return String(value[name]);
    return undefined;
  };
  const domainValue = pick("signInDomain", "domain");
  const clientId = pick("clientId", "client_id");
  const redirect = pick("redirectUri", "redirect_uri");
  if (value.auth !== undefined && value.auth !== "cognito") throw new Error('config.json: auth must be "local" or "cognito"');
  if (!domainValue) throw new Error("config.json needs signInDomain (or domain)");
  if (!clientId) throw new Error("config.json needs clientId");
  if (!redirect) throw new Error("config.json needs redirectUri");
  const domain = domainValue.replace(/\/+$/, "");
  if (!/^https:\/\//.test(domain)) throw new Error("config.json: the sign-in domain must be an https URL");
  const scopes = Array.isArray(value.scopes) ? value.scopes.map(String) : undefined;
  return { auth: "cognito", domain, client_id: clientId, redirect_uri: redirect, logout_uri: pick("logoutUri", "logout_uri"), scopes };
}

export async function loadConfig(): Promise<ConsoleConfig> {
  const response = await fetch("/config.json", { cache: "no-store", credentials: "omit" });
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  return parseConfig(await response.json());
}
