// Charts drawn as SVG by hand: no chart library, no inline style (sizes are SVG attributes).
import { useEffect, useRef, useState } from "preact/hooks";
import { niceMax, ticks } from "../lib/stats";

/** The element's width in CSS pixels, kept current: charts draw at their real size, so text stays
 * readable on a phone instead of shrinking with the picture. */
function useWidth(fallback: number) {
  const ref = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(fallback);
  useEffect(() => {
    const element = ref.current;
    if (!element) return;
    const observer = new ResizeObserver(([entry]) => entry && setWidth(Math.max(200, Math.floor(entry.contentRect.width))));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  return [ref, width] as const;
}

export interface Bar {
  label: string;
  value: number;
  title: string;
}

/** Vertical bars (e.g. tips per day), scaled to a round maximum, with the value above each bar. */
export function ColumnChart({ bars, label }: { bars: Bar[]; label: string }) {
  const [ref, width] = useWidth(640);
  const height = 200;
  const top = 18;
  const bottom = 26;
  const left = 28;
  const max = niceMax(Math.max(0, ...bars.map((b) => b.value)));
  const right = 18; // room for the last label
  const slot = (width - left - right) / Math.max(1, bars.length);
  const barWidth = Math.max(4, slot * 0.62);
  const scale = (v: number) => ((height - top - bottom) * v) / max;
  const every = Math.max(1, Math.ceil((bars.length * 38) / (width - left)));
  return (
    <div ref={ref} class="chart-box">
    <svg class="chart" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label}>
      <title>{label}</title>
      {ticks(max).map((tick) => (
        <g key={tick}>
          <line class="grid" x1={left} x2={width - right} y1={height - bottom - scale(tick)} y2={height - bottom - scale(tick)} />
          <text class="axis" x={left - 6} y={height - bottom - scale(tick) + 4} text-anchor="end">
            {tick}
          </text>
        </g>
      ))}
      {bars.map((bar, i) => {
        const x = left + i * slot + (slot - barWidth) / 2;
        const h = scale(bar.value);
        return (
          <g key={bar.label}>
            <rect class="bar" x={x} y={height - bottom - h} width={barWidth} height={h} rx={2}>
              <title>{bar.title}</title>
            </rect>
            {bar.value > 0 && (
              <text class="value" x={x + barWidth / 2} y={height - bottom - h - 4} text-anchor="middle">
                {bar.value}
              </text>
            )}
            {(bars.length - 1 - i) % every === 0 && (
              <text class="axis" x={x + barWidth / 2} y={height - 8} text-anchor="middle">
                {bar.label}
              </text>
            )}
          </g>
        );
      })}
    </svg>
    </div>
  );
}

export interface Segment {
  key: string;
  value: number;
  label: string;
}

/** One horizontal bar cut into coloured segments (class `seg-<key>`), proportional to a total. */
export function StackedBar({ segments, total, label }: { segments: Segment[]; total?: number; label: string }) {
  const sum = total ?? segments.reduce((a, s) => a + s.value, 0);
  let x = 0;
  return (
    <svg class="stacked" viewBox="0 0 100 10" preserveAspectRatio="none" role="img" aria-label={label}>
      <title>{label}</title>
      <rect class="track" x={0} y={0} width={100} height={10} rx={1.5} />
      {sum > 0 &&
        segments
          .filter((s) => s.value > 0)
          .map((s) => {
            const w = (100 * s.value) / sum;
            const rect = <rect key={s.key} class={`seg seg-${s.key}`} x={x} y={0} width={w} height={10} />;
            x += w;
            return rect;
          })}
    </svg>
  );
}

export function Legend({ segments }: { segments: Segment[] }) {
  return (
    <ul class="legend">
      {segments.map((s) => (
        <li key={s.key}>
          <svg class="swatch" viewBox="0 0 10 10" aria-hidden="true">
            <rect class={`seg seg-${s.key}`} width={10} height={10} rx={2} />
          </svg>
          {s.label}: <strong>{s.value}</strong>
        </li>
      ))}
    </ul>
  );
}
