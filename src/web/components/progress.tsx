import { fmtPercent } from "../format";
import type { Batch } from "../types";

/** A bar split into succeeded / failed / processing, with the done share as text. */
export function ProgressBar(props: { batch: Batch }) {
  const b = props.batch;
  const total = Math.max(b.total_requests, 1);
  const pct = (n: number) => `${Math.min(100, (n / total) * 100)}%`;
  const done = b.completed_requests + b.failed_requests;
  return (
    <div class="progress" title={`${done} of ${b.total_requests} done`}>
      <div class="bar">
        <span class="ok" style={{ width: pct(b.completed_requests) }} />
        <span class="bad" style={{ width: pct(b.failed_requests) }} />
        <span class="run" style={{ width: pct(b.processing_requests ?? 0) }} />
      </div>
      <span class="pct" data-testid="progress-text">
        {fmtPercent(b.total_requests === 0 ? 1 : done / b.total_requests)}
      </span>
    </div>
  );
}

export function StatusBadge(props: { status: string }) {
  return (
    <span class={`badge s-${props.status}`} data-testid="batch-status">
      {props.status.replace("_", " ")}
    </span>
  );
}
