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
import { isTerminalBatchStatus } from "../domain/statuses.js";
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
  return isTerminalBatchStatus(batch.status);
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
  const watcher = new BatchWatcher(ctx, initial, emit, end);
  watcher.begin(resumed);
  return () => watcher.stop();
}

/** One stream's follower: re-reads the batch on changes, at most once per `minIntervalMs`. */
class BatchWatcher {
  private lastId = 0;
  private lastSent = "";
  private lastEmitAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private reading = false;
  private again = false;
  private stopped = false;
  private readonly unsubscribe: () => void;
  private readonly poll: NodeJS.Timeout;

  constructor(
    private readonly ctx: AppContext,
    private readonly initial: Batch,
    private readonly emit: (event: ProgressEvent) => void,
    private readonly end: () => void,
  ) {
    this.unsubscribe = ctx.signals.onBatchChanged((change) => {
      if (change.batchIds.includes(initial.id) || change.transitions.some((t) => t.batchId === initial.id)) {
        this.schedule();
      }
    });
    this.poll = setInterval(() => this.schedule(), ctx.config.progress.pollMs);
  }

  begin(resumed: boolean): void {
    this.send(resumed ? "progress" : "snapshot", this.initial);
    if (isFinished(this.initial)) this.finish(this.initial);
    else this.schedule(); // catches a change between the caller's read and the subscription
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    clearInterval(this.poll);
    this.unsubscribe();
  }

  private send(kind: ProgressKind, batch: Batch): void {
    const wire = batchToWire(batch);
    this.lastId = Math.max(Date.now(), this.lastId + 1);
    this.lastSent = JSON.stringify(wire);
    this.lastEmitAt = Date.now();
    this.emit({ id: this.lastId, kind, batch: wire });
  }

  private finish(batch: Batch): void {
    this.send("done", batch);
    this.stop();
    this.end();
  }

  private schedule(): void {
    if (this.stopped || this.timer) return;
    const wait = Math.max(0, this.lastEmitAt + this.ctx.config.progress.minIntervalMs - Date.now());
    this.timer = setTimeout(() => void this.refresh(), wait);
  }

  private async refresh(): Promise<void> {
    this.timer = null;
    if (this.stopped) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = true;
    try {
      const batch = await this.ctx.store.batches.get(this.initial.workspaceId, this.initial.id);
      if (this.stopped) return;
      if (!batch) {
        this.stop();
        this.end();
        return;
      }
      if (isFinished(batch)) return this.finish(batch);
      if (JSON.stringify(batchToWire(batch)) !== this.lastSent) this.send("progress", batch);
    } catch {
      // A failed read is retried by the next change or poll.
    } finally {
      this.reading = false;
      if (this.again && !this.stopped) {
        this.again = false;
        this.schedule();
      }
    }
  }
}
