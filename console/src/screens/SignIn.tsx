import { useEffect, useState } from "preact/hooks";
import type { ConsoleConfig } from "../auth/config";
import type { Key } from "../i18n";

export interface LocalIdentity {
  unit_id: string;
  unit_name: string;
  role: "officer" | "commander";
}

interface Props {
  config: ConsoleConfig;
  t: (key: Key, params?: Record<string, string | number>) => string;
  notice: Key | null;
  error: string | null;
  onCognito: () => void;
  onLocal: (identity: LocalIdentity) => void;
  onToggleLang: () => void;
}

/** Sign-in: Cognito's hosted page in AWS; locally, the demo units and roles of the local stack. */
export function SignIn({ config, t, notice, error, onCognito, onLocal, onToggleLang }: Props) {
  const [identities, setIdentities] = useState<LocalIdentity[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  useEffect(() => {
    if (config.auth !== "local") return;
    fetch("/_local/console/identities", { cache: "no-store" })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`))))
      .then((body: { identities: LocalIdentity[] }) => setIdentities(body.identities))
      .catch((e: unknown) => setLoadError(e instanceof Error ? e.message : String(e)));
  }, [config.auth]);

  return (
    <main id="main" class="signin">
      <div class="signin-card">
        <div class="signin-head">
          <svg class="logo" viewBox="0 0 32 32" aria-hidden="true">
            <rect width="32" height="32" rx="7" class="logo-bg" />
            <path d="M9 10h14v3h-5.5v10h-3V13H9z" class="logo-fg" />
          </svg>
          <div>
            <h1>{t("app_name")}</h1>
            <p class="muted">{t("app_subtitle")}</p>
          </div>
          <button type="button" class="btn btn-ghost btn-small lang" onClick={onToggleLang} lang={t("lang_switch") === "English" ? "en" : "vi"}>
            {t("lang_switch")}
          </button>
        </div>
        <h2>{t("signin_title")}</h2>
        {notice && (
          <p class="alert alert-info" role="status">
            {t(notice)}
          </p>
        )}
        {error && (
          <p class="alert alert-error" role="alert">
            {t("signin_failed", { message: error })}
          </p>
        )}
        <p>{t("signin_intro")}</p>
        {config.auth === "cognito" ? (
          <button type="button" class="btn btn-primary btn-block" onClick={onCognito}>
            {t("signin_cognito")}
          </button>
        ) : (
          <>
            <p class="muted">{t("signin_local_note")}</p>
            {loadError && (
              <p class="alert alert-error" role="alert">
                {t("signin_failed", { message: loadError })}
              </p>
            )}
            {!identities && !loadError && <p role="status">{t("loading")}</p>}
            <ul class="identity-list">
              {(identities ?? []).map((identity) => (
                <li key={`${identity.role}:${identity.unit_id}`}>
                  <button type="button" class="btn btn-block identity" onClick={() => onLocal(identity)}>
                    <strong>{identity.role === "commander" ? t("signin_as_commander") : t("signin_as_officer")}</strong>
                    <span>{identity.unit_name}</span>
                  </button>
                </li>
              ))}
            </ul>
          </>
        )}
      </div>
    </main>
  );
}
