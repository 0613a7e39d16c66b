import { useEffect, useState } from "preact/hooks";
import { download, get, post } from "../api";
import { ProgressChart, samplesFromResults } from "../components/chart";
import { ProgressBar, StatusBadge } from "../components/progress";
import { ResultsTable } from "../components/results-table";
import { StatusMap } from "../components/status-map";
import { errorText, fmtDuration, fmtNumber, fmtRate, fmtTime } from "../format";
import { type Sample, useLiveBatch } from "../live";
import { Link } from "../router";
import { type Batch, type BatchResult, type ItemStatus, isFinal, type ValidationError } from "../types";

type Action = "pause" | "resume" | "cancel" | "retry";

const STATUSES: ItemStatus[] = ["pending", "processing", "success", "failed"];
/** custom_ids drawn per status in the status map. */
const MAP_LIMIT = 500;

type StatusMapData = Record<ItemStatus, string[]> & { counts: Record<ItemStatus, number> };

const ACTIONS: { action: Action; label: string; allowed: (b: Batch) => boolean; confirm?: string }[] = [
  { action: "pause", label: "Pause", allowed: (b) => b.status === "in_progress" },
  { action: "resume", label: "Resume", allowed: (b) => b.status === "paused" },
  {
    action: "cancel",
    label: "Cancel",
    allowed: (b) => ["validating", "in_progress", "paused"].includes(b.status),
    confirm: "Cancel this batch? Pending items fail with 499; finished results are kept.",
  },
  {
    action: "retry",
    label: "Retry failed",
    allowed: (b) => isFinal(b.status) && b.failed_requests > 0,
  },
];

/** Items finished per second over the last few seconds of samples. */
function recentRate(samples: Sample[]): number {
  if (samples.length < 2) return 0;
  const last = samples[samples.length - 1];
  let first = samples[0];
  for (let i = samples.length - 2; i >= 0; i--) {
    first = samples[i];
    if (last.t - samples[i].t >= 5000) break;
  }
  const dt = (last.t - first.t) / 1000;
  return dt > 0 ? (last.success + last.failed - first.success - first.failed) / dt : 0;
}

/** Seed 002's status map (`GET /batches/{id}/status-map`): custom_ids grouped by item status. */
function useStatusMap(id: string, version: number) {
  const [map, setMap] = useState<{ groups: Partial<Record<ItemStatus, string[]>>; truncated: boolean }>({
    groups: {},
    truncated: false,
  });
  useEffect(() => {
    let stale = false;
    get<StatusMapData>(`/batches/${encodeURIComponent(id)}/status-map?limit=${MAP_LIMIT}`)
      .then((m) => {
        if (stale) return;
        const groups = { pending: m.pending, processing: m.processing, success: m.success, failed: m.failed };
        const truncated = STATUSES.some((s) => (m.counts[s] ?? 0) > (groups[s]?.length ?? 0));
        setMap({ groups, truncated });
      })
      .catch(() => {});
    return () => {
      stale = true;
    };
  }, [id, version]);
  return map;
}

/** A batch opened after it ran has no live samples: its chart comes from the results' times. */
function useHistory(batch: Batch | null, needed: boolean): Sample[] {
  const [history, setHistory] = useState<Sample[]>([]);
  const id = batch?.id;
  useEffect(() => {
    if (!needed || !batch) return;
    let stale = false;
    get<BatchResult[]>(`/batches/${encodeURIComponent(batch.id)}/results?limit=1000`)
      .then((rows) => {
        if (!stale)
          setHistory(samplesFromResults(rows, batch.total_requests, batch.started_at ?? batch.created_at));
      })
      .catch(() => {});
    return () => {
      stale = true;
    };
  }, [id, needed]);
  return history;
}

/** One batch: counters, live chart, controls, exports, status map and results. */
export function BatchPage(props: { id: string }) {
  const { batch, error, mode, samples, accept } = useLiveBatch(props.id);
  const [busy, setBusy] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [focus, setFocus] = useState<string | null>(null);
  const [version, setVersion] = useState(0);

  // Results, status map and chart history refresh every two seconds while the batch runs.
  const active = batch !== null && !isFinal(batch.status);
  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => setVersion((v) => v + 1), 2000);
    return () => clearInterval(t);
  }, [active]);
  useEffect(() => setVersion((v) => v + 1), [batch?.status]);

  const statusMap = useStatusMap(props.id, version);
  const history = useHistory(batch, batch !== null && isFinal(batch.status) && samples.length < 3);

  if (error && !batch) {
    return (
      <section class="card">
        <p class="error">{error}</p>
        <Link href="/">Back to batches</Link>
      </section>
    );
  }
  if (!batch) return <p class="muted">Loading…</p>;

  const act = async (action: Action, confirmText?: string) => {
    if (confirmText && !window.confirm(confirmText)) return;
    setBusy(action);
    setActionError(null);
    try {
      accept(await post<Batch>(`/batches/${encodeURIComponent(batch.id)}/${action}`));
    } catch (err) {
      setActionError(errorText(err));
    } finally {
      setBusy(null);
    }
  };

  const exportAs = async (format: "csv" | "jsonl" | "json") => {
    setBusy(`export-${format}`);
    setActionError(null);
    try {
      await download(
        `/batches/${encodeURIComponent(batch.id)}/results?format=${format}`,
        `${batch.name ? batch.name.replace(/[^\w.-]+/g, "_") : `batch-${batch.id}`}.${format}`,
      );
    } catch (err) {
      setActionError(errorText(err));
    } finally {
      setBusy(null);
    }
  };

  const done = batch.completed_requests + batch.failed_requests;
  const endedAt = batch.completed_at ?? batch.cancelled_at;
  const elapsed = batch.started_at
    ? (endedAt ? Date.parse(endedAt) : Date.now()) - Date.parse(batch.started_at)
    : Number.NaN;
  // While running: the recent rate; once finished: the average over the whole run.
  const rate = active ? recentRate(samples) : elapsed > 0 ? done / (elapsed / 1000) : 0;
  const eta = rate > 0 ? ((batch.total_requests - done) / rate) * 1000 : Number.NaN;
  const validation = batch.validation_errors ?? [];

  return (
    <section class="batch-page" data-testid="batch-page">
      <div class="page-head">
        <div>
          <div class="crumbs">
            <Link href="/">Batches</Link> /
          </div>
          <h1>
            {batch.name || "Batch"} <StatusBadge status={batch.status} />
          </h1>
          <div class="muted mono small">{batch.id}</div>
        </div>
        <div class="actions">
          {ACTIONS.map((a) => (
            <button
              type="button"
              key={a.action}
              data-action={a.action}
              class={a.action === "cancel" ? "danger" : ""}
              disabled={!a.allowed(batch) || busy !== null}
              onClick={() => act(a.action, a.confirm)}
            >
              {busy === a.action ? "…" : a.label}
            </button>
          ))}
        </div>
      </div>
      {actionError && <p class="error">{actionError}</p>}
      {batch.error_message && <p class="error">{batch.error_message}</p>}

      <div class="card">
        <ProgressBar batch={batch} />
        <div class="counters">
          <Counter label="total" value={fmtNumber(batch.total_requests)} />
          <Counter
            label="succeeded"
            value={fmtNumber(batch.completed_requests)}
            cls="ok"
            testid="succeeded"
          />
          <Counter label="failed" value={fmtNumber(batch.failed_requests)} cls="bad" testid="failed" />
          <Counter label="processing" value={fmtNumber(batch.processing_requests)} cls="run" />
          <Counter label="pending" value={fmtNumber(batch.pending_requests)} />
          <Counter label="rate" value={fmtRate(rate)} />
          <Counter label={active ? "ETA" : "elapsed"} value={fmtDuration(active ? eta : elapsed)} />
          <Counter label="tokens" value={fmtNumber(batch.usage?.total_tokens)} />
          <Counter
            label="cost"
            value={batch.total_cost !== undefined ? `$${batch.total_cost.toFixed(4)}` : "—"}
          />
        </div>
        <div class="meta">
          <Meta label="agent" value={batch.agent_id} mono />
          <Meta label="created" value={fmtTime(batch.created_at)} />
          <Meta label="started" value={fmtTime(batch.started_at)} />
          {batch.paused_at && <Meta label="paused" value={fmtTime(batch.paused_at)} />}
          <Meta label={batch.cancelled_at ? "cancelled" : "completed"} value={fmtTime(endedAt)} />
          <Meta label="expires" value={fmtTime(batch.expires_at)} />
          <Meta label="updates" value={mode === "stream" ? "live (SSE)" : mode} />
        </div>
      </div>

      {validation.length > 0 && <ValidationErrors errors={validation} />}

      <div class="grid2">
        <div class="card">
          <h2>Progress over time</h2>
          <ProgressChart samples={samples.length >= 3 ? samples : history} total={batch.total_requests} />
        </div>
        <div class="card">
          <h2>Status map</h2>
          <StatusMap
            groups={statusMap.groups}
            counts={{
              pending: batch.pending_requests,
              processing: batch.processing_requests,
              success: batch.completed_requests,
              failed: batch.failed_requests,
            }}
            truncated={statusMap.truncated}
            onPick={(id) => setFocus(id)}
          />
        </div>
      </div>

      <div class="card">
        <div class="card-head">
          <h2>Results</h2>
          <div class="actions">
            <span class="muted">Export</span>
            {(["csv", "jsonl", "json"] as const).map((f) => (
              <button
                type="button"
                key={f}
                data-export={f}
                disabled={busy !== null}
                onClick={() => exportAs(f)}
              >
                {busy === `export-${f}` ? "…" : f.toUpperCase()}
              </button>
            ))}
          </div>
        </div>
        <ResultsTable batchId={batch.id} version={version} focus={focus} />
      </div>
    </section>
  );
}

function Meta(props: { label: string; value: string; mono?: boolean }) {
  return (
    <span>
      <em>{props.label}</em> <span class={props.mono ? "mono" : ""}>{props.value}</span>
    </span>
  );
}

function Counter(props: { label: string; value: string; cls?: string; testid?: string }) {
  return (
    <div class={`counter ${props.cls ?? ""}`}>
      <b data-testid={props.testid}>{props.value}</b>
      <span>{props.label}</span>
    </div>
  );
}

export function ValidationErrors(props: { errors: ValidationError[] }) {
  return (
    <div class="card" data-testid="validation-errors">
      <h2>
        Validation errors <span class="muted">({props.errors.length})</span>
      </h2>
      <table class="table compact">
        <thead>
          <tr>
            <th class="num">row</th>
            <th>error</th>
          </tr>
        </thead>
        <tbody>
          {props.errors.slice(0, 500).map((e) => (
            <tr key={`${e.row}:${e.error}`}>
              <td class="num">{e.row}</td>
              <td class="err-text">{e.error}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {props.errors.length > 500 && <p class="muted">Showing the first 500.</p>}
    </div>
  );
}
