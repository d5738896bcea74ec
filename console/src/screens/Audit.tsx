import { useEffect, useState } from "preact/hooks";
import { must, type AuditRecord } from "../api/client";
import { ErrorBox, UnitOptions } from "../components/ui";
import { useApp } from "../context";
import { maybe } from "../i18n";
import { looksLikeCode } from "../lib/inbox";
import { href } from "../lib/router";
import { formatVn } from "../lib/time";

export function Audit({ tipId }: { tipId?: string }) {
  const { api, t, lang, units, unitName, setTitle } = useApp();
  const [unit, setUnit] = useState(tipId ? "" : (units[0]?.unit_id ?? ""));
  const [tip, setTip] = useState(tipId ?? "");
  const [officer, setOfficer] = useState("");
  const [records, setRecords] = useState<AuditRecord[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [need, setNeed] = useState(false);

  const load = async (unitId: string, tipText: string) => {
    setNeed(false);
    try {
      let id = tipText.trim();
      if (id && looksLikeCode(id)) {
        const found = must(await api.GET("/v1/tips", { params: { query: { code: id } } })).items[0];
        id = found?.tip_id ?? "";
        if (!found) {
          setRecords([]);
          return;
        }
      }
      if (!id && !unitId) {
        setNeed(true);
        return;
      }
      const query = id ? { tip_id: id } : { unit: unitId };
      const found = must(await api.GET("/v1/audit", { params: { query } }));
      setRecords([...found].sort((a, b) => b.at_ms - a.at_ms));
      setError(null);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => {
    setTitle(`${t("audit_title")} · Zalo Tipline`);
    void load(unit, tip);
  }, []);

  const shown = (records ?? []).filter((r) => !officer.trim() || r.actor.toLowerCase().includes(officer.trim().toLowerCase()));
  return (
    <section aria-labelledby="audit-title">
      <div class="page-head">
        <h1 id="audit-title">{t("audit_title")}</h1>
        <p class="muted">{t("audit_intro")}</p>
      </div>
      <form
        class="card filter-grid"
        onSubmit={(e) => {
          e.preventDefault();
          void load(unit, tip);
        }}
      >
        <div class="field">
          <label for="au-unit">{t("audit_filter_unit")}</label>
          <select id="au-unit" value={unit} onChange={(e) => setUnit(e.currentTarget.value)}>
            <UnitOptions units={units} empty="—" />
          </select>
        </div>
        <div class="field">
          <label for="au-tip">{t("audit_filter_tip")}</label>
          <input id="au-tip" type="text" value={tip} onInput={(e) => setTip(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="au-officer">{t("audit_filter_officer")}</label>
          <input id="au-officer" type="text" value={officer} onInput={(e) => setOfficer(e.currentTarget.value)} />
        </div>
        <div class="field field-end">
          <button type="submit" class="btn btn-primary">
            {t("audit_show")}
          </button>
        </div>
      </form>
      {need && <p class="alert alert-info">{t("audit_need_filter")}</p>}
      {error !== null && <ErrorBox error={error} />}
      {records && shown.length === 0 && <p class="empty">{t("audit_empty")}</p>}
      {shown.length > 0 && (
        <ul class="audit-list">
          {shown.map((r, i) => (
            <li key={`${r.at_ms}-${i}`} class="card audit-row">
              <p class="row-top">
                <time dateTime={new Date(r.at_ms).toISOString()}>{formatVn(r.at_ms)}</time>
                <strong>{r.actor}</strong>
                <span class="chip">{maybe(lang, `act_${r.action}`, r.action)}</span>
              </p>
              <p class="row-meta">
                {r.tip_id && (
                  <span>
                    {t("audit_tip")}: <a href={href({ name: "tip", tipId: r.tip_id })}>{r.tip_id.slice(0, 8)}…</a>
                  </span>
                )}
                {r.advisory_id && (
                  <span>
                    {t("audit_advisory")}: <a href={href({ name: "advisory", advisoryId: r.advisory_id })}>{r.advisory_id.slice(0, 8)}…</a>
                  </span>
                )}
                <span>{unitName(r.unit_id)}</span>
                {Object.entries(r.details ?? {}).map(([k, v]) => (
                  <span key={k}>
                    {k}: {v}
                  </span>
                ))}
              </p>
              <p>
                <span class="muted">{t("audit_why")}:</span> {r.reason}
              </p>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
