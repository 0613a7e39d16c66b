import type { Sample } from "../live";
import type { BatchResult } from "../types";

const W = 640;
const H = 200;
const PAD = { left: 44, right: 48, top: 10, bottom: 24 };

const LAYERS: { key: keyof Omit<Sample, "t">; label: string; color: string }[] = [
  { key: "success", label: "succeeded", color: "var(--ok)" },
  { key: "failed", label: "failed", color: "var(--bad)" },
  { key: "processing", label: "processing", color: "var(--run)" },
  { key: "pending", label: "pending", color: "var(--idle)" },
];

/**
 * For a batch opened after it ran there are no live samples: rebuild its history from the
 * results' processed_at times (second resolution), starting at started_at.
 */
export function samplesFromResults(
  results: BatchResult[],
  total: number,
  startedAt: string | null,
): Sample[] {
  const done = results
    .filter((r) => r.processed_at && (r.status === "success" || r.status === "failed"))
    .map((r) => ({ t: Date.parse(r.processed_at!), ok: r.status === "success" }))
    .sort((a, b) => a.t - b.t);
  if (done.length === 0) return [];
  const start = startedAt ? Math.min(Date.parse(startedAt), done[0].t) : done[0].t;
  const out: Sample[] = [{ t: start, success: 0, failed: 0, processing: 0, pending: total }];
  let success = 0;
  let failed = 0;
  for (let i = 0; i < done.length; i++) {
    if (done[i].ok) success++;
    else failed++;
    if (i === done.length - 1 || done[i + 1].t !== done[i].t) {
      out.push({
        t: done[i].t,
        success,
        failed,
        processing: 0,
        pending: Math.max(0, total - success - failed),
      });
    }
  }
  return out;
}

/** Items finished per second between samples, smoothed over a window of about two seconds. */
function throughput(samples: Sample[]): { t: number; rate: number }[] {
  const out: { t: number; rate: number }[] = [];
  let j = 0;
  for (let i = 1; i < samples.length; i++) {
    while (j < i - 1 && samples[i].t - samples[j + 1].t >= 2000) j++;
    const dt = (samples[i].t - samples[j].t) / 1000;
    const dDone = samples[i].success + samples[i].failed - samples[j].success - samples[j].failed;
    out.push({ t: samples[i].t, rate: dt > 0 ? Math.max(0, dDone / dt) : 0 });
  }
  return out;
}

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** A stacked area of item states over time, with the throughput as a line on the right axis. */
export function ProgressChart(props: { samples: Sample[]; total: number }) {
  const { samples, total } = props;
  if (samples.length < 2) {
    return <div class="chart-empty">The chart fills in as items finish.</div>;
  }
  const t0 = samples[0].t;
  const t1 = Math.max(samples[samples.length - 1].t, t0 + 1000);
  const yMax = Math.max(total, 1);
  const rates = throughput(samples);
  const rMax = niceMax(Math.max(...rates.map((r) => r.rate), 0.1));
  const x = (t: number) => PAD.left + ((t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
  const y = (v: number) => H - PAD.bottom - (v / yMax) * (H - PAD.top - PAD.bottom);
  const yr = (v: number) => H - PAD.bottom - (v / rMax) * (H - PAD.top - PAD.bottom);

  // Each layer is the band between the sum of the layers below it and that sum plus itself.
  const bands = LAYERS.map((layer, li) => {
    const below = (s: Sample) => LAYERS.slice(0, li).reduce((n, l) => n + s[l.key], 0);
    const top = samples.map((s) => `${x(s.t).toFixed(1)},${y(below(s) + s[layer.key]).toFixed(1)}`);
    const bottom = samples.map((s) => `${x(s.t).toFixed(1)},${y(below(s)).toFixed(1)}`);
    return { ...layer, points: [...top, ...bottom.reverse()].join(" ") };
  });
  const line = rates.map((r) => `${x(r.t).toFixed(1)},${yr(r.rate).toFixed(1)}`).join(" ");
  const secs = (t1 - t0) / 1000;

  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label="Item states and throughput over time">
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line class="grid" x1={PAD.left} x2={W - PAD.right} y1={y(yMax * f)} y2={y(yMax * f)} />
            <text class="axis" x={PAD.left - 6} y={y(yMax * f) + 4} text-anchor="end">
              {Math.round(yMax * f)}
            </text>
            <text class="axis rate" x={W - PAD.right + 6} y={yr(rMax * f) + 4}>
              {rMax * f >= 10 ? Math.round(rMax * f) : (rMax * f).toFixed(1)}/s
            </text>
          </g>
        ))}
        {bands.map((b) => (
          <polygon key={b.key} points={b.points} fill={b.color} opacity="0.85" />
        ))}
        {rates.length > 1 && <polyline class="rate-line" points={line} fill="none" />}
        <text class="axis" x={PAD.left} y={H - 6}>
          0s
        </text>
        <text class="axis" x={W - PAD.right} y={H - 6} text-anchor="end">
          {secs >= 120 ? `${Math.round(secs / 60)}m` : `${Math.round(secs)}s`}
        </text>
      </svg>
      <ChartLegend />
    </figure>
  );
}

function ChartLegend() {
  return (
    <figcaption class="legend">
      {LAYERS.map((l) => (
        <span key={l.key}>
          <i style={{ background: l.color }} /> {l.label}
        </span>
      ))}
      <span>
        <i class="rate-swatch" /> throughput (items/s)
      </span>
    </figcaption>
  );
}
