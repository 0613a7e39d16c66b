/**
 * Background ingest of batch input files. A batch made from a file is answered at once,
 * `validating`; its rows are then read, checked and stored here in chunks of short transactions,
 * yielding to the event loop between chunks, so the process keeps serving every workspace and
 * running other batches meanwhile. Items become runnable in one step once the whole file is in.
 * A sweep fails the batches whose ingest stopped (the process ingesting them died: its heartbeat,
 * refreshed by every chunk, went stale), so none stays `validating` forever after a restart.
 */
import type { Logger } from "pino";
import type { BatchTransition } from "../domain/lifecycle.js";
import { BackgroundLoop } from "../engine/loop.js";
import type { Signals } from "../engine/signals.js";
import { InputFileError } from "../files/batch-input.js";
import type { Batch, IngestEntry, IngestRow, RowError, Store } from "../store/types.js";

/** One file's ingest, its batch already stored `validating`. */
export interface IngestJob {
  batch: Batch;
  /**
   * The rows not read yet, in the arrays the file is read in, and the first array (read before
   * the create answered).
   */
  entries: AsyncIterator<IngestEntry[]>;
  first: IngestEntry[];
  onInvalidRows: "fail" | "skip";
  maxReportedErrors: number;
  /** Caps: rows of this batch, and unfinished rows of its workspace (`activeBefore` are others'). */
  maxRows: number;
  maxWorkspaceRows: number;
  activeBefore: number;
}

/** What the routes ask of the runner (the service constructs, starts and stops it). */
export interface BatchIngests {
  run(job: IngestJob): void;
}

export interface IngestRunnerOptions {
  /** Rows per transaction. */
  chunkRows: number;
  /** How often stale ingests are looked for, and how old a heartbeat is stale. */
  sweepMs: number;
  staleMs: number;
}

const DEFAULTS: IngestRunnerOptions = { chunkRows: 1000, sweepMs: 30_000, staleMs: 120_000 };

/** Longest stretch of parsing and checking rows before the ingest lets other work run. */
const SLICE_MS = 5;

const yieldToLoop = () => new Promise((resolve) => setImmediate(resolve));

export const INTERRUPTED =
  "the ingest of the batch's input was interrupted (the process reading it stopped); create the batch again";

/** Thrown out of a chunk loop to end the ingest with a failed batch. */
class IngestFailure extends Error {}

/** The rows of one ingest: the current chunk, the counts and the row errors kept. */
class Tally {
  rows = 0;
  stored = 0;
  errorCount = 0;
  readonly errors: RowError[] = [];
  chunk: (IngestRow & { row: number })[] = [];
  private seq = 0;

  constructor(private readonly job: IngestJob) {}

  add(entry: IngestEntry): void {
    this.rows++;
    const { maxRows, maxWorkspaceRows, activeBefore } = this.job;
    if (this.rows > maxRows) {
      throw new IngestFailure(
        `file_id: the file has more than ${maxRows} rows; the cap is ${maxRows} rows per batch (max_rows_per_batch)`,
      );
    }
    if (activeBefore + this.rows > maxWorkspaceRows) {
      throw new IngestFailure(
        `file_id: the workspace would have more than ${maxWorkspaceRows} unfinished rows; the cap is ${maxWorkspaceRows} rows per workspace (max_rows_per_workspace)`,
      );
    }
    if ("error" in entry) this.report(entry.row, entry.error);
    else this.chunk.push({ seq: this.seq++, row: entry.row, item: entry.item });
  }

  report(row: number, error: string): void {
    this.errorCount++;
    if (this.errors.length < this.job.maxReportedErrors) this.errors.push({ row, error });
  }

  /** Counts what a chunk stored; a row it skipped reused a custom_id. */
  record(stored: Set<number>): void {
    this.stored += stored.size;
    for (const r of this.chunk) {
      if (stored.has(r.seq)) continue;
      this.report(
        r.row,
        `custom_id: "${r.item.customId}" is used by an earlier row; custom_id must be unique within the batch`,
      );
    }
    this.chunk = [];
  }
}

export class IngestRunner implements BatchIngests {
  private readonly running = new Set<Promise<void>>();
  private readonly loop: BackgroundLoop;
  private stopping = false;

  constructor(
    private readonly store: Store,
    private readonly signals: Signals,
    private readonly logger: Logger,
    private readonly opts: IngestRunnerOptions = DEFAULTS,
  ) {
    this.loop = new BackgroundLoop({
      iteration: () => this.sweep(),
      intervalMs: opts.sweepMs,
      unref: true,
      onError: (err) => logger.error({ err }, "looking for interrupted ingests failed"),
    });
  }

  start(): void {
    this.loop.start();
  }

  /** Stops reading: ingests in progress end `failed` (interrupted) after their current chunk. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop.stop();
    await Promise.allSettled([...this.running]);
  }

  run(job: IngestJob): void {
    const p = this.ingest(job)
      .catch((err) => this.logger.error({ err, batch_id: job.batch.id }, "batch ingest failed"))
      .finally(() => this.running.delete(p));
    this.running.add(p);
  }

  private async sweep(): Promise<void> {
    const now = Date.now();
    const failed = await this.store.batches.failStaleIngests(now - this.opts.staleMs, INTERRUPTED, now);
    for (const b of failed) {
      this.logger.warn({ batch_id: b.id }, "interrupted ingest: batch failed");
      this.changed(b, "failed");
    }
  }

  private async ingest(job: IngestJob): Promise<void> {
    const tally = new Tally(job);
    let failure: string | null = null;
    try {
      const ended = await this.readAll(job, tally);
      if (!ended) {
        // Cancelled, or failed as stale, meanwhile: nothing more to store.
        await job.entries.return?.();
        return;
      }
    } catch (err) {
      failure = this.failureOf(err, job.batch.id);
      await job.entries.return?.();
    }
    await this.finish(job, tally, failure);
  }

  /** What the batch's `error_message` says about an ingest that threw. */
  private failureOf(err: unknown, batchId: string): string {
    if (err instanceof IngestFailure) return err.message;
    if (err instanceof InputFileError) return `file_id: ${err.message}`;
    if (this.stopping) return INTERRUPTED;
    this.logger.error({ err, batch_id: batchId }, "batch ingest failed");
    return "the ingest of the input file failed; create the batch again";
  }

  /** Reads and stores every row; false when the batch stopped being validating (nothing more to do). */
  private async readAll(job: IngestJob, tally: Tally): Promise<boolean> {
    let entries: IngestEntry[] = job.first;
    let sliceStart = performance.now();
    for (;;) {
      for (const entry of entries) {
        tally.add(entry);
        if (tally.chunk.length >= this.opts.chunkRows) {
          if (!(await this.storeChunk(job, tally))) return false;
          sliceStart = performance.now();
        }
      }
      const next = await job.entries.next();
      if (next.done) return tally.chunk.length === 0 || this.storeChunk(job, tally);
      entries = next.value;
      if (performance.now() - sliceStart > SLICE_MS) {
        // Let requests, the engine and lease renewals run between slices of parsing.
        await yieldToLoop();
        sliceStart = performance.now();
      }
    }
  }

  /** Stores the tally's chunk, then lets other work run; false when the batch stopped validating. */
  private async storeChunk(job: IngestJob, tally: Tally): Promise<boolean> {
    if (this.stopping) throw new Error("stopping");
    const stored = await this.store.batches.ingestChunk(job.batch.id, tally.chunk, Date.now());
    if (stored === null) return false;
    tally.record(stored);
    await yieldToLoop();
    return true;
  }

  private async finish(job: IngestJob, tally: Tally, failure: string | null): Promise<void> {
    const invalid = tally.errorCount > 0 && (job.onInvalidRows === "fail" || tally.stored === 0);
    const message = failure ?? (invalid ? `${tally.errorCount} validation error(s)` : null);
    const end =
      message === null
        ? { kind: "ready" as const, errors: tally.errors }
        : { kind: "failed" as const, message, errors: tally.errors };
    const batch = await this.store.batches.finishIngest(job.batch.id, end, Date.now());
    if (!batch) return;
    this.changed(batch, batch.status);
    if (batch.status === "in_progress") this.signals.notifyWork();
  }

  private changed(batch: Batch, to: Batch["status"]): void {
    const transitions: BatchTransition[] = [
      { batchId: batch.id, workspaceId: batch.workspaceId, from: "validating", to },
    ];
    this.signals.notifyBatchChanged({ batchIds: [batch.id], transitions });
  }
}
