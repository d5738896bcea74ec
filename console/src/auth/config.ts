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

export function parseConfig(raw: unknown): ConsoleConfig {
  if (!raw || typeof raw !== "object") throw new Error("config.json is not an object");
  const value = raw as Record<string, unknown>;
  if (value.auth === "local") return { auth: "local" };
  if (value.auth === "cognito") {
    for (const key of ["domain", "client_id", "redirect_uri"]) {
      if (typeof value[key] !== "string" || !value[key]) throw new Error(`config.json needs ${key}`);
    }
    const domain = String(value.domain).replace(/\/+$/, "");
    if (!/^https:\/\//.test(domain)) throw new Error("config.json: domain must be an https URL");
    return {
      auth: "cognito",
      domain,
      client_id: String(value.client_id),
      redirect_uri: String(value.redirect_uri),
      logout_uri: typeof value.logout_uri === "string" ? value.logout_uri : undefined,
      scopes: Array.isArray(value.scopes) ? value.scopes.map(String) : undefined,
    };
  }
  throw new Error('config.json: auth must be "local" or "cognito"');
}

export async function loadConfig(): Promise<ConsoleConfig> {
  const response = await fetch("/config.json", { cache: "no-store", credentials: "omit" });
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  return parseConfig(await response.json());
}
