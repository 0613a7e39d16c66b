import type { CommitReport, ItemOutcome, Store } from "../store/types.js";

/**
 * Group commit of item outcomes: results are buffered and written in one transaction every
 * `maxBatch` outcomes or `intervalMs`, whichever comes first. One transaction per item would
 * cap throughput at the disk's fsync rate.
 */
export class Completer {
  private buffer: ItemOutcome[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly maxBatch: number,
    private readonly intervalMs: number,
    private readonly onCommitted: (outcomes: ItemOutcome[], report: CommitReport) => void,
    private readonly onError: (err: unknown) => void,
  ) {}

  get buffered(): number {
    return this.buffer.length;
  }

  add(outcome: ItemOutcome): void {
    this.buffer.push(outcome);
    if (this.buffer.length >= this.maxBatch) {
      void this.flush();
    } else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.intervalMs);
    }
  }

  /** Writes what is buffered; resolves once it (and any earlier flush) is stored. */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const outcomes = this.buffer;
    this.buffer = [];
    // Flushes are chained so that outcomes reach the store in the order they were produced.
    this.flushing = this.flushing.then(async () => {
      if (outcomes.length === 0) return;
      try {
        const report = await this.store.items.commit(outcomes, Date.now());
        this.onCommitted(outcomes, report);
      } catch (err) {
        // The items keep their leases; if the store stays down they are reaped and retried.
        this.onError(err);
        this.onCommitted(outcomes, {
          applied: 0,
          discarded: outcomes.length,
          transitions: [],
          touchedBatchIds: [],
        });
      }
    });
    return this.flushing;
  }
}
