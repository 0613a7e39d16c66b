import { fmtDuration, fmtNumber, fmtRate, fmtTime } from "../format";
import type { LiveMode } from "../live";
import type { BatchTimings } from "../pages/batch-data";
import type { Batch } from "../types";
import { ProgressBar } from "./progress";

/** The batch page's first card: progress bar, counters, rate and ETA, and the batch's times. */
export function BatchSummary(props: {
  batch: Batch;
  timings: BatchTimings;
  active: boolean;
  mode: LiveMode;
}) {
  const { batch, timings, active } = props;
  return (
    <div class="card">
      <ProgressBar batch={batch} />
      <div class="counters">
        <Counter label="total" value={fmtNumber(batch.total_requests)} />
        <Counter label="succeeded" value={fmtNumber(batch.completed_requests)} cls="ok" testid="succeeded" />
        <Counter label="failed" value={fmtNumber(batch.failed_requests)} cls="bad" testid="failed" />
        <Counter label="processing" value={fmtNumber(batch.processing_requests)} cls="run" />
        <Counter label="pending" value={fmtNumber(batch.pending_requests)} />
        <Counter label="rate" value={fmtRate(timings.rate)} />
        <Counter
          label={active ? "ETA" : "elapsed"}
          value={fmtDuration(active ? timings.eta : timings.elapsed)}
        />
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
        <Meta label={batch.cancelled_at ? "cancelled" : "completed"} value={fmtTime(timings.endedAt)} />
        <Meta label="expires" value={fmtTime(batch.expires_at)} />
        <Meta label="updates" value={props.mode === "stream" ? "live (SSE)" : props.mode} />
      </div>
    </div>
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
