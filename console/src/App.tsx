import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { makeApi, must, type Me, type Unit } from "./api/client";
import { type ConsoleConfig, loadConfig } from "./auth/config";
import { authorizeUrl, challengeOf, jwtClaims, logoutUrl, newVerifier, parseCallback, tokenRequest } from "./auth/pkce";
import { expiresAt, IDLE_LIMIT_MS, isLive, meFromClaims, PKCE_KEY, restore, save, type Session, wipeBrowserStorage } from "./auth/session";
import { Ctx, type AppContext, translator } from "./context";
import type { Key, Lang } from "./i18n";
import { PAGE } from "./lib/inbox";
import { dropPrefetched, prefetchInbox } from "./lib/prefetch";
import { href, parseRoute, type Route } from "./lib/router";
import { AdvisoryList, AdvisoryView, Compose } from "./screens/Advisories";
import { Audit } from "./screens/Audit";
import { Blocks } from "./screens/Blocks";
import { Inbox } from "./screens/Inbox";
import { type LocalIdentity, SignIn } from "./screens/SignIn";
import { Stats } from "./screens/Stats";
import { Tip } from "./screens/Tip";

const ACTIVITY_EVENTS = ["pointerdown", "keydown", "wheel", "touchstart"] as const;

export function App() {
  const [lang, setLang] = useState<Lang>("vi");
  const t = useMemo(() => translator(lang), [lang]);
  const [config, setConfig] = useState<ConsoleConfig | null>(null);
  const [fatal, setFatal] = useState<string | null>(null);
  // A session this tab kept (a reload): usable at once, before the config arrives.
  const [session, setSession] = useState<Session | null>(() => restore(sessionStorage, Date.now()));
  const [me, setMe] = useState<Me | null>(null);
  const [units, setUnits] = useState<Unit[]>([]);
  const [notice, setNotice] = useState<Key | null>(null);
  const [signInError, setSignInError] = useState<string | null>(null);
  const [route, setRoute] = useState<Route>(parseRoute(location.hash));
  const sessionRef = useRef<Session | null>(null);
  sessionRef.current = session;

  useEffect(() => {
    document.documentElement.lang = lang;
  }, [lang]);

  const signOut = useCallback(
    async (why: Key | null, leaveCognito = false) => {
      sessionRef.current = null;
      dropPrefetched();
      setSession(null);
      setMe(null);
      setUnits([]);
      setNotice(why);
      await wipeBrowserStorage();
      document.title = "Zalo Tipline";
      if (leaveCognito && config?.auth === "cognito") location.assign(logoutUrl(config));
    },
    [config],
  );

  // One client for the console's life (screens re-run their loads when it changes).
  const signOutRef = useRef(signOut);
  signOutRef.current = signOut;
  const api = useMemo(
    () => makeApi(() => sessionRef.current?.token ?? null, () => void signOutRef.current("signin_expired")),
    [],
  );

  const begin = (token: string) => {
    const now = Date.now();
    const started: Session = { token, expiresAtMs: expiresAt(jwtClaims(token)), lastActiveMs: now };
    save(sessionStorage, started);
    setNotice(null);
    setSignInError(null);
    setSession(started);
  };

  // Start: the runtime config, then Cognito's callback or a session kept by this tab.
  useEffect(() => {
    (async () => {
      const loaded = await loadConfig();
      setConfig(loaded);
      const callback = parseCallback(location.search);
      if (loaded.auth === "cognito" && callback) {
        history.replaceState(null, "", location.pathname + location.hash);
        const pending = sessionStorage.getItem(PKCE_KEY);
        sessionStorage.removeItem(PKCE_KEY);
        if ("error" in callback) return setSignInError(callback.error);
        const saved = pending ? (JSON.parse(pending) as { state: string; verifier: string }) : null;
        if (!saved || saved.state !== callback.state) return setSignInError("state");
        const request = tokenRequest(loaded, callback.code, saved.verifier);
        const answer = await fetch(request.url, { method: "POST", body: request.body, credentials: "omit" });
        if (!answer.ok) return setSignInError(`HTTP ${answer.status}`);
        const tokens = (await answer.json()) as { id_token?: string };
        if (!tokens.id_token) return setSignInError("no id_token");
        return begin(tokens.id_token);
      }
    })().catch((e: unknown) => setFatal(e instanceof Error ? e.message : String(e)));
  }, []);

  // Who is signed in, and the units (names for transfers, filters, advisories).
  useEffect(() => {
    if (!session) return;
    const failed = (e: unknown) => setSignInError(e instanceof Error ? e.message : String(e));
    // The console shows at once from the token's own claims (for display only: the API decides what
    // the caller may see), and asks for the inbox's first page first; the API's word on who is
    // signed in (and the unit names) follows, after that page, so the first screen waits for one
    // request only.
    // (The page is asked for before the shell, and so the inbox, is shown: the inbox then takes it.)
    const first = parseRoute(location.hash).name === "inbox" ? prefetchInbox(api, PAGE) : Promise.resolve();
    const provisional = meFromClaims(jwtClaims(session.token));
    if (provisional) setMe(provisional);
    first
      .then(() => api.GET("/v1/me"))
      .then((answer) => setMe(must(answer)))
      .then(() => api.GET("/v1/units"))
      .then((answer) => setUnits(must(answer)))
      .catch(failed);
  }, [session?.token]);

  // Idle sign-out: 15 minutes without a key, a tap or a click; also when the token expires.
  useEffect(() => {
    if (!session) return;
    let lastSaved = session.lastActiveMs;
    const touch = () => {
      const current = sessionRef.current;
      if (!current) return;
      current.lastActiveMs = Date.now();
      if (current.lastActiveMs - lastSaved > 30_000) {
        lastSaved = current.lastActiveMs;
        save(sessionStorage, current);
      }
    };
    for (const name of ACTIVITY_EVENTS) window.addEventListener(name, touch, { passive: true });
    const timer = window.setInterval(() => {
      if (!isLive(sessionRef.current, Date.now())) void signOut("signin_expired");
    }, Math.min(15_000, IDLE_LIMIT_MS));
    return () => {
      for (const name of ACTIVITY_EVENTS) window.removeEventListener(name, touch);
      window.clearInterval(timer);
    };
  }, [session?.token, signOut]);

  useEffect(() => {
    const onHash = () => setRoute(parseRoute(location.hash));
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);

  const toggleLang = () => setLang((l) => (l === "vi" ? "en" : "vi"));

  if (fatal) return <p class="alert alert-error" role="alert">{t("error_generic", { message: fatal })}</p>;
  if (!session && !config) return <p role="status">{t("loading")}</p>;
  if (!session && config) {
    const cognito = async () => {
      if (config.auth !== "cognito") return;
      const verifier = newVerifier();
      const state = newVerifier();
      sessionStorage.setItem(PKCE_KEY, JSON.stringify({ state, verifier }));
      location.assign(authorizeUrl(config, state, await challengeOf(verifier)));
    };
    const local = async (identity: LocalIdentity) => {
      try {
        const answer = await fetch("/_local/console/token", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ unit_id: identity.unit_id, role: identity.role }),
        });
        if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
        begin(((await answer.json()) as { token: string }).token);
      } catch (e) {
        setSignInError(e instanceof Error ? e.message : String(e));
      }
    };
    return (
      <SignIn
        config={config}
        t={t}
        notice={notice}
        error={signInError}
        onCognito={() => void cognito()}
        onLocal={(identity) => void local(identity)}
        onToggleLang={toggleLang}
      />
    );
  }
  if (!me) {
    return signInError ? (
      <p class="alert alert-error" role="alert">
        {t("signin_failed", { message: signInError })}
      </p>
    ) : (
      <p role="status">{t("loading")}</p>
    );
  }

  const names = new Map(units.map((u) => [u.unit_id, u.name]));
  const context: AppContext = {
    lang,
    t,
    api,
    me,
    units,
    unitName: (id) => names.get(id) ?? id,
    setTitle: (title) => {
      document.title = title;
    },
  };
  const commander = me.role === "commander";
  const section = route.name === "tip" ? "inbox" : route.name === "compose" || route.name === "advisory" ? "advisories" : route.name;
  const nav: [Route, Key][] = [
    [{ name: "inbox" }, "nav_inbox"],
    [{ name: "stats" }, "nav_stats"],
    [{ name: "advisories" }, "nav_advisories"],
    [{ name: "blocks" }, "nav_blocks"],
    ...(commander ? ([[{ name: "audit" }, "nav_audit"]] as [Route, Key][]) : []),
  ];
  return (
    <Ctx.Provider value={context}>
      <a class="skip" href="#main">
        {t("skip_to_content")}
      </a>
      <header class="topbar">
        <a class="brand" href={href({ name: "inbox" })}>
          <svg class="logo" viewBox="0 0 32 32" aria-hidden="true">
            <rect width="32" height="32" rx="7" class="logo-bg" />
            <path d="M9 10h14v3h-5.5v10h-3V13H9z" class="logo-fg" />
          </svg>
          <span>{t("app_name")}</span>
        </a>
        <p class="who">
          <span class="who-unit">{me.unit_name}</span>
          <span class="who-role">
            {commander ? t("role_commander") : t("role_officer")} · {me.subject}
          </span>
        </p>
        <div class="topbar-actions">
          <button type="button" class="btn btn-ghost btn-small" onClick={toggleLang} lang={lang === "vi" ? "en" : "vi"}>
            {t("lang_switch")}
          </button>
          <button type="button" class="btn btn-small" onClick={() => void signOut("signin_signed_out", true)}>
            {t("sign_out")}
          </button>
        </div>
        <nav class="tabs" aria-label={t("nav_main")}>
          {nav.map(([target, key]) => (
            <a key={key} href={href(target)} aria-current={section === target.name ? "page" : undefined}>
              {t(key)}
            </a>
          ))}
        </nav>
      </header>
      <main id="main" tabIndex={-1}>
        {route.name === "inbox" && <Inbox />}
        {route.name === "tip" && <Tip key={route.tipId} tipId={route.tipId} />}
        {route.name === "stats" && <Stats />}
        {route.name === "advisories" && <AdvisoryList />}
        {route.name === "compose" && <Compose />}
        {route.name === "advisory" && <AdvisoryView key={route.advisoryId} advisoryId={route.advisoryId} />}
        {route.name === "blocks" && <Blocks />}
        {route.name === "audit" && (commander ? <Audit key={route.tipId ?? ""} tipId={route.tipId} /> : <Inbox />)}
      </main>
    </Ctx.Provider>
  );
}
