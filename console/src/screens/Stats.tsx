import { useEffect, useState } from "preact/hooks";
import { must, type UnitStats } from "../api/client";
import { ColumnChart, Legend, StackedBar } from "../components/charts";
import { ErrorBox, Loading, UnitOptions } from "../components/ui";
import { useApp } from "../context";
import { maybe } from "../i18n";
import { duration, percent, STATUSES, totals } from "../lib/stats";
import { shortDay } from "../lib/time";

export function Stats() {
  const { api, t, lang, me, units, unitName, setTitle } = useApp();
  const [stats, setStats] = useState<UnitStats[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [unit, setUnit] = useState("");
  const commander = me.role === "commander";

  const load = async () => {
    try {
      setStats(must(await api.GET("/v1/stats")));
      setError(null);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => {
    setTitle(`${t("stats_title")} · Zalo Tipline`);
    void load();
  }, []);

  if (error !== null) return <ErrorBox error={error} onRetry={() => void load()} />;
  if (!stats) return <Loading />;
  const scope = unit ? stats.filter((s) => s.unit_id === unit) : stats;
  const sum = totals(scope);
  const minutes = (value: number | null | undefined) => {
    const { key, ...numbers } = duration(value);
    return t(key, numbers);
  };
  const statusSegments = STATUSES.map((s) => ({ key: s, value: sum.byStatus[s] ?? 0, label: maybe(lang, `status_${s}`, s) }));
  return (
    <section aria-labelledby="stats-title">
      <div class="page-head">
        <h1 id="stats-title">{t("stats_title")}</h1>
        <p class="muted">{t("stats_intro")}</p>
      </div>
      {commander && (
        <div class="field field-inline">
          <label for="s-unit">{t("stats_unit")}</label>
          <select id="s-unit" value={unit} onChange={(e) => setUnit(e.currentTarget.value)}>
            <UnitOptions units={units} empty={t("inbox_all_units")} />
          </select>
        </div>
      )}
      {scope.length === 0 ? (
        <p class="empty">{t("stats_none")}</p>
      ) : (
        <>
          <div class="kpis">
            <div class="kpi card">
              <p class="kpi-label">{t("stats_total")}</p>
              <p class="kpi-value">{sum.total}</p>
            </div>
            <div class="kpi card">
              <p class="kpi-label">{t("stats_urgent_share")}</p>
              <p class="kpi-value">{percent(sum.urgentShare)}</p>
              <p class="kpi-detail">
                {sum.urgent}/{sum.total}
              </p>
            </div>
            <div class="kpi card">
              <p class="kpi-label">{t("stats_median_reply")}</p>
              <p class="kpi-value">{scope.length === 1 ? minutes(sum.medianMinutes) : "—"}</p>
              {scope.length > 1 && <p class="kpi-detail">{t("stats_median_by_unit")}</p>}
            </div>
            <div class="kpi card">
              <p class="kpi-label">{t("stats_delivery")}</p>
              <p class="kpi-value">{percent(sum.deliveryRate)}</p>
              <p class="kpi-detail">{t("stats_delivery_detail", { delivered: sum.repliesDelivered, sent: sum.repliesSent })}</p>
            </div>
          </div>
          <div class="card">
            <h2>{t("stats_per_day")}</h2>
            <ColumnChart
              label={t("stats_per_day")}
              bars={sum.perDay.map(([day, count]) => ({ label: shortDay(day), value: count, title: t("stats_chart_day", { day: shortDay(day), count }) }))}
            />
          </div>
          <div class="card">
            <h2>{t("stats_by_status")}</h2>
            <StackedBar label={t("stats_by_status")} segments={statusSegments} />
            <Legend segments={statusSegments} />
          </div>
          {commander && !unit && (
            <div class="card">
              <h2>{t("stats_by_unit")}</h2>
              <ul class="unit-stats">
                {stats.map((s) => {
                  const one = totals([s]);
                  const most = Math.max(...stats.map((x) => totals([x]).total));
                  return (
                    <li key={s.unit_id}>
                      <p class="unit-stats-head">
                        <strong>{unitName(s.unit_id)}</strong>
                        <span class="num">
                          {one.total} {t("stats_tips").toLowerCase()}
                        </span>
                      </p>
                      <StackedBar
                        label={`${unitName(s.unit_id)}: ${one.total}`}
                        total={most}
                        segments={STATUSES.map((st) => ({ key: st, value: one.byStatus[st] ?? 0, label: st }))}
                      />
                      <p class="row-meta">
                        <span>
                          {t("stats_urgent")}: {percent(one.urgentShare)}
                        </span>
                        <span>
                          {t("stats_reply_time")}: {minutes(s.median_minutes_to_first_reply)}
                        </span>
                        <span>
                          {t("stats_delivery")}: {percent(one.deliveryRate)}
                        </span>
                      </p>
                    </li>
                  );
                })}
              </ul>
            </div>
          )}
        </>
      )}
    </section>
  );
}
