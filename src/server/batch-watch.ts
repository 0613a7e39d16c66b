/**
 * Follows one batch for a live progress stream (SSE or WebSocket): its current state first, then
 * a new state whenever its counters or status change, and a final `done` once it has finished.
 *
 * Changes are driven by `signals.onBatchChanged` and coalesced to at most one event per
 * `progress.minIntervalMs` per stream; a slow re-read (`progress.pollMs`) also catches changes
 * made by another process. Every event carries the whole batch object, so a client that missed
 * events misses nothing by resuming from the latest one.
 *
 * Event ids increase strictly within a batch's stream: each is the time (epoch ms) the state was
 * read, raised above the previous id when the clock did not move. A resumed stream
 * (`Last-Event-ID`) starts with the current state as a `progress` event instead of `snapshot`.
 */
import { TERMINAL_BATCH_STATUSES } from "../domain/statuses.js";
import type { Batch } from "../store/types.js";
import type { AppContext } from "./context.js";
import { batchToWire } from "./wire/batches.js";

export type ProgressKind = "snapshot" | "progress" | "done";

export interface ProgressEvent {
  id: number;
  kind: ProgressKind;
  batch: ReturnType<typeof batchToWire>;
}

export function isFinished(batch: Batch): boolean {
  return TERMINAL_BATCH_STATUSES.includes(batch.status);
}

/** When a finished batch finished (the id of its `done` event is never below this). */
export function finishedAt(batch: Batch): number {
  return batch.completedAt ?? batch.cancelledAt ?? batch.createdAt;
}

/**
 * Starts following `initial`'s batch: calls `emit` for each event and `end` after `done` (or
 * when the batch disappears). Returns the function that stops following.
 */
export function watchBatch(
  ctx: AppContext,
  initial: Batch,
  resumed: boolean,
  emit: (event: ProgressEvent) => void,
  end: () => void,
): () => void {
  const { minIntervalMs, pollMs } = ctx.config.progress;
  let lastId = 0;
  let lastSent = "";
  let lastEmitAt = 0;
  let timer: NodeJS.Timeout | null = null;
  let reading = false;
  let again = false;
  let stopped = false;

  const send = (kind: ProgressKind, batch: Batch) => {
    const wire = batchToWire(batch);
    lastId = Math.max(Date.now(), lastId + 1);
    lastSent = JSON.stringify(wire);
    lastEmitAt = Date.now();
    emit({ id: lastId, kind, batch: wire });
  };

  const stop = () => {
    if (stopped) return;
    stopped = true;
    if (timer) clearTimeout(timer);
    clearInterval(poll);
    unsubscribe();
  };

  const finish = (batch: Batch) => {
    send("done", batch);
    stop();
    end();
  };

  const refresh = async () => {
    timer = null;
    if (stopped) return;
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    try {
      const batch = await ctx.store.getBatch(initial.workspaceId, initial.id);
      if (stopped) return;
      if (!batch) {
        stop();
        end();
        return;
      }
      if (isFinished(batch)) return finish(batch);
      if (JSON.stringify(batchToWire(batch)) !== lastSent) send("progress", batch);
    } catch {
      // A failed read is retried by the next change or poll.
    } finally {
      reading = false;
      if (again && !stopped) {
        again = false;
        schedule();
      }
    }
  };

  const schedule = () => {
    if (stopped || timer) return;
    timer = setTimeout(() => void refresh(), Math.max(0, lastEmitAt + minIntervalMs - Date.now()));
  };

  const unsubscribe = ctx.signals.onBatchChanged((change) => {
    if (change.batchIds.includes(initial.id) || change.transitions.some((t) => t.batchId === initial.id)) {
      schedule();
    }
  });
  const poll = setInterval(schedule, pollMs);

  send(resumed ? "progress" : "snapshot", initial);
  if (isFinished(initial)) finish(initial);
  else schedule(); // catches a change between the caller's read and the subscription
  return stop;
}
