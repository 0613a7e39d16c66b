import { useState } from "preact/hooks";
import { download, post } from "../api";
import { BatchSummary } from "../components/batch-summary";
import { ProgressChart } from "../components/chart";
import { StatusBadge } from "../components/progress";
import { ResultsTable } from "../components/results-table";
import { StatusMap } from "../components/status-map";
import { ValidationErrors } from "../components/validation-errors";
import { useBusyAction } from "../hooks";
import { type Sample, useLiveBatch } from "../live";
import { Link } from "../router";
import { type Batch, isFinal } from "../types";
import {
  batchTimings,
  type StatusMapGroups,
  useHistory,
  useRefreshVersion,
  useStatusMap,
} from "./batch-data";

type Action = "pause" | "resume" | "cancel" | "retry";
type ExportFormat = "csv" | "jsonl" | "json";
type RunAction = (label: string, work: () => Promise<unknown>) => Promise<void>;

const EXPORT_FORMATS: ExportFormat[] = ["csv", "jsonl", "json"];

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

/** One batch: counters, live chart, controls, exports, status map and results. */
export function BatchPage(props: { id: string }) {
  const { batch, error, mode, samples, accept } = useLiveBatch(props.id);
  const { busy, error: actionError, run } = useBusyAction();
  const [focus, setFocus] = useState<string | null>(null);
  // Results, status map and chart history refresh every two seconds while the batch runs.
  const version = useRefreshVersion(batch);
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

  const active = !isFinal(batch.status);
  const act = (action: Action, confirmText?: string) => {
    if (confirmText && !window.confirm(confirmText)) return;
    void run(action, async () =>
      accept(await post<Batch>(`/batches/${encodeURIComponent(batch.id)}/${action}`)),
    );
  };
  const validation = batch.validation_errors ?? [];
  return (
    <section class="batch-page" data-testid="batch-page">
      <BatchHead batch={batch} busy={busy} act={act} />
      {actionError && <p class="error">{actionError}</p>}
      {batch.error_message && <p class="error">{batch.error_message}</p>}
      <BatchSummary
        batch={batch}
        timings={batchTimings(batch, samples, active)}
        active={active}
        mode={mode}
      />
      {validation.length > 0 && <ValidationErrors errors={validation} />}
      <ChartAndStatusMap
        batch={batch}
        samples={samples.length >= 3 ? samples : history}
        statusMap={statusMap}
        onPick={setFocus}
      />
      <ResultsCard batch={batch} version={version} focus={focus} busy={busy} run={run} />
    </section>
  );
}

function BatchHead(props: { batch: Batch; busy: string | null; act: (a: Action, confirm?: string) => void }) {
  const { batch, busy } = props;
  return (
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
            onClick={() => props.act(a.action, a.confirm)}
          >
            {busy === a.action ? "…" : a.label}
          </button>
        ))}
      </div>
    </div>
  );
}

function ChartAndStatusMap(props: {
  batch: Batch;
  samples: Sample[];
  statusMap: StatusMapGroups;
  onPick: (customId: string) => void;
}) {
  const { batch, statusMap } = props;
  return (
    <div class="grid2">
      <div class="card">
        <h2>Progress over time</h2>
        <ProgressChart samples={props.samples} total={batch.total_requests} />
      </div>
      <div class="card">
        <h2>Status map</h2>
        <StatusMap
          groups={statusMap.groups}
          counts={{
            pending: batch.pending_requests,
            processing: batch.processing_requests,
            awaiting_tool_calls: batch.awaiting_tool_calls_requests ?? 0,
            success: batch.completed_requests,
            failed: batch.failed_requests,
          }}
          truncated={statusMap.truncated}
          onPick={props.onPick}
        />
      </div>
    </div>
  );
}

function ResultsCard(props: {
  batch: Batch;
  version: number;
  focus: string | null;
  busy: string | null;
  run: RunAction;
}) {
  const { batch, busy } = props;
  const exportAs = (format: ExportFormat) =>
    props.run(`export-${format}`, () =>
      download(
        `/batches/${encodeURIComponent(batch.id)}/results?format=${format}`,
        `${batch.name ? batch.name.replace(/[^\w.-]+/g, "_") : `batch-${batch.id}`}.${format}`,
      ),
    );
  return (
    <div class="card">
      <div class="card-head">
        <h2>Results</h2>
        <div class="actions">
          <span class="muted">Export</span>
          {EXPORT_FORMATS.map((f) => (
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
      <ResultsTable batchId={batch.id} version={props.version} focus={props.focus} />
    </div>
  );
}
