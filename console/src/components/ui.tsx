import type { ComponentChildren } from "preact";
import type { TipStatus, Unit } from "../api/client";
import { maybe } from "../i18n";
import { useApp } from "../context";

export function StatusChip({ status }: { status: TipStatus }) {
  const { lang } = useApp();
  return <span class={`chip status-${status}`}>{maybe(lang, `status_${status}`, status)}</span>;
}

export function UrgentBadge() {
  const { t } = useApp();
  return (
    <span class="badge-urgent">
      <span aria-hidden="true">▲ </span>
      {t("urgent")}
    </span>
  );
}

export function ErrorBox({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const { t } = useApp();
  const status = (error as { status?: number } | null)?.status;
  const message =
    status === 404 ? t("not_found") : t("error_generic", { message: error instanceof Error ? error.message : String(error) });
  return (
    <div class="alert alert-error" role="alert">
      <span>{message}</span>
      {onRetry && (
        <button type="button" class="btn btn-small" onClick={onRetry}>
          {t("retry")}
        </button>
      )}
    </div>
  );
}

export function Loading() {
  const { t } = useApp();
  return (
    <p class="muted" role="status">
      {t("loading")}
    </p>
  );
}

export function Field({ label, id, children, hint }: { label: string; id: string; children: ComponentChildren; hint?: string }) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {children}
      {hint && (
        <p class="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
    </div>
  );
}

/** The options of a unit picker: a first, empty choice, then every unit (but those excluded). */
export function UnitOptions({ units, empty, exclude }: { units: Unit[]; empty: string; exclude?: string }) {
  return (
    <>
      <option value="">{empty}</option>
      {units
        .filter((u) => u.unit_id !== exclude)
        .map((u) => (
          <option key={u.unit_id} value={u.unit_id}>
            {u.name}
          </option>
        ))}
    </>
  );
}
