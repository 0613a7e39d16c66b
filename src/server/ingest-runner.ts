/**
 * Background ingest of batch input files. A batch made from a file is answered at once,
 * `validating`; its rows are then read, checked and stored here in chunks of short transactions,
 * yielding to the event loop between chunks, so the process keeps serving every workspace and
 * running other batches meanwhile. Items become runnable in one step once the whole file is in.
 *
 * An ingest survives the end of its process. Each chunk stores, in its transaction, where the
 * ingest stands (`IngestProgress`: the last file row stored, the next seq, counts, row errors).
 * A process that stops hands its ingests back; one that dies leaves them with a heartbeat that
 * goes stale. A sweep (on every API process, and at start) takes such batches over, one process
 * each, and reads on from the row after the last one stored: nothing is read twice into the
 * batch, nothing is lost. A batch whose ingest cannot be resumed (its file was deleted, or it was
 * begun by an older version) is failed with a message that says so.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { BatchTransition } from "../domain/lifecycle.js";
import { BackgroundLoop } from "../engine/loop.js";
import type { Signals } from "../engine/signals.js";
import { InputFileError } from "../files/batch-input.js";
import type {
  Batch,
  IngestEntry,
  IngestProgress,
  IngestRow,
  ResumedIngest,
  RowError,
  Store,
} from "../store/types.js";

/** One file's ingest, its batch already stored `validating`. */
export interface IngestJob {
  batch: Batch;
  /**
   * The rows not read yet, in the arrays the file is read in, and the first array (read before
   * the create answered; none on resume).
   */
  entries: AsyncIterator<IngestEntry[]>;
  first?: IngestEntry[];
  /** Where the ingest stands: nothing read yet, or what a stopped process stored. */
  progress: IngestProgress;
  maxReportedErrors: number;
  /** Caps: rows of this batch, and unfinished rows of its workspace (`activeBefore` are others'). */
  maxRows: number;
  maxWorkspaceRows: number;
  activeBefore: number;
}

/** What the routes ask of the runner (the service constructs, starts and stops it). */
export interface BatchIngests {
  /** The process's ingest owner id: `beginIngest` records it on the batch. */
  readonly owner: string;
  run(job: IngestJob): void;
}

/**
 * Opens a taken-over batch's file again, reading on after `progress.lastRow`; throws with the
 * message the batch fails with when it cannot (the file was deleted).
 */
export type ReopenIngest = (batch: Batch, progress: IngestProgress) => Promise<IngestJob>;

export interface IngestRunnerOptions {
  /** Rows per transaction. */
  chunkRows: number;
  /**
   * How old an ingest's heartbeat is stale (its process is gone). The owner refreshes it every
   * quarter of this, whatever its chunks do; stale ingests are looked for every half.
   */
  staleMs: number;
  /**
   * True when no other process can be ingesting (SQLite: one process owns the file): at start,
   * every validating batch is taken over at once instead of after `staleMs`.
   */
  soleProcess: boolean;
}

export const DEFAULT_INGEST_STALE_MS = 60_000;

/** Longest stretch of parsing and checking rows before the ingest lets other work run. */
const SLICE_MS = 5;

const yieldToLoop = () => new Promise((resolve) => setImmediate(resolve));

export const INTERRUPTED =
  "the ingest of the batch's input was interrupted (the process reading it stopped); create the batch again";

/** Thrown out of a chunk loop to end the ingest with a failed batch. */
class IngestFailure extends Error {}

/** Thrown out of a chunk loop when the process stops: the ingest is handed back, not failed. */
class Stopping extends Error {}

/** The rows of one ingest: the current chunk, the counts and the row errors kept. */
class Tally {
  rows: number;
  errorCount: number;
  readonly errors: RowError[];
  chunk: (IngestRow & { row: number })[] = [];
  private seq: number;
  /** File row number of the last row added. */
  private lastRow: number;

  /** Rows stored in the batch (by this process or the one it took over from). */
  stored: number;

  constructor(
    private readonly job: IngestJob,
    stored: number,
  ) {
    const p = job.progress;
    this.stored = stored;
    this.rows = p.rows;
    this.errorCount = p.errorCount;
    this.errors = [...p.errors];
    this.seq = p.nextSeq;
    this.lastRow = p.lastRow;
  }

  add(entry: IngestEntry): void {
    this.rows++;
    this.lastRow = entry.row;
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
    if ("error" in entry) this.reportError(entry.row, entry.error);
    else this.chunk.push({ seq: this.seq++, row: entry.row, item: entry.item });
  }

  private report(errors: RowError[], row: number, error: string): void {
    if (errors.length < this.job.maxReportedErrors) errors.push({ row, error });
  }

  /** The row errors of a chunk whose `stored` seqs went in: its other rows reused a custom_id. */
  private duplicates(stored: Set<number>): RowError[] {
    return this.chunk
      .filter((r) => !stored.has(r.seq))
      .map((r) => ({
        row: r.row,
        error: `custom_id: "${r.item.customId}" is used by an earlier row; custom_id must be unique within the batch`,
      }));
  }

  /** Where the ingest stands once the chunk is stored (pure: the store may run it again). */
  progressAfter(stored: Set<number>): IngestProgress {
    const errors = [...this.errors];
    const dups = this.duplicates(stored);
    for (const d of dups) this.report(errors, d.row, d.error);
    const { columnMapping, onInvalidRows } = this.job.progress;
    return {
      columnMapping,
      onInvalidRows,
      lastRow: this.lastRow,
      nextSeq: this.seq,
      rows: this.rows,
      errorCount: this.errorCount + dups.length,
      errors,
    };
  }

  /**
   * Counts what a chunk stored, taking the counts and errors from `progress`, the
   * `progressAfter(stored)` the store wrote with it (its skipped rows reused a custom_id).
   */
  record(stored: Set<number>, progress: IngestProgress): void {
    this.stored += stored.size;
    this.errorCount = progress.errorCount;
    this.errors.splice(0, this.errors.length, ...progress.errors);
    this.chunk = [];
  }

  reportError(row: number, error: string): void {
    this.errorCount++;
    this.report(this.errors, row, error);
  }
}

function sameSet(a: Set<number>, b: Set<number>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

export class IngestRunner implements BatchIngests {
  readonly owner = `ingest-${randomUUID()}`;
  private readonly running = new Set<Promise<void>>();
  private readonly loop: BackgroundLoop;
  private stopping = false;
  private swept = false;

  constructor(
    private readonly store: Store,
    private readonly signals: Signals,
    private readonly logger: Logger,
    private readonly reopen: ReopenIngest,
    private readonly opts: IngestRunnerOptions,
  ) {
    this.loop = new BackgroundLoop({
      iteration: () => this.sweep(),
      intervalMs: Math.max(1, Math.floor(opts.staleMs / 2)),
      unref: true,
      onError: (err) => logger.error({ err }, "looking for interrupted ingests failed"),
    });
  }

  start(): void {
    this.loop.start();
  }

  /**
   * Stops reading: each ingest in progress stops after its current chunk and is handed back
   * (`validating`, its heartbeat stale), for the next process that looks to read on.
   */
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

  /** Takes over the ingests whose process is gone (on a sole process, at start, all of them). */
  private async sweep(): Promise<void> {
    const now = Date.now();
    const staleBefore =
      !this.swept && this.opts.soleProcess ? Number.MAX_SAFE_INTEGER : now - this.opts.staleMs;
    this.swept = true;
    for (const taken of await this.store.batches.takeStaleIngests(staleBefore, this.owner, now)) {
      if (this.stopping) {
        await this.store.batches.releaseIngest(taken.batch.id, this.owner);
        continue;
      }
      await this.resume(taken);
    }
  }

  private async resume({ batch, progress }: ResumedIngest): Promise<void> {
    if (progress === null) return this.failTaken(batch, INTERRUPTED);
    let job: IngestJob;
    try {
      job = await this.reopen(batch, progress);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return this.failTaken(batch, `the ingest of the batch's input could not be resumed: ${message}`);
    }
    this.logger.info({ batch_id: batch.id, after_row: progress.lastRow }, "resuming an interrupted ingest");
    this.run(job);
  }

  private async failTaken(batch: Batch, message: string): Promise<void> {
    const failed = await this.store.batches.finishIngest(
      batch.id,
      { kind: "failed", message, errors: [] },
      Date.now(),
      this.owner,
    );
    if (!failed) return;
    this.logger.warn({ batch_id: batch.id, error: message }, "interrupted ingest: batch failed");
    this.changed(failed, "failed");
  }

  private async ingest(job: IngestJob): Promise<void> {
    const tally = new Tally(job, job.batch.total);
    const heartbeat = this.keepAlive(job);
    let failure: string | null = null;
    try {
      const ended = await this.readAll(job, tally, heartbeat);
      if (!ended) {
        // Cancelled, failed or taken over meanwhile: nothing more to store.
        await job.entries.return?.();
        return;
      }
    } catch (err) {
      await job.entries.return?.();
      if (err instanceof Stopping) {
        await this.store.batches.releaseIngest(job.batch.id, this.owner);
        return;
      }
      failure = this.failureOf(err, job.batch.id);
    } finally {
      heartbeat.stop();
    }
    await this.finish(job, tally, failure);
  }

  /**
   * Refreshes the ingest's heartbeat every quarter of `staleMs`, so that a slow file (or a long
   * chunk) is not taken for a dead process; `lost` turns true when the batch is no longer ours.
   */
  private keepAlive(job: IngestJob): { lost: boolean; stop(): void } {
    const state = { lost: false, stop: () => clearInterval(timer) };
    const timer = setInterval(
      () => {
        this.store.batches
          .touchIngest(job.batch.id, this.owner, Date.now())
          .then((held) => {
            if (!held) state.lost = true;
          })
          .catch((err) => this.logger.warn({ err, batch_id: job.batch.id }, "ingest heartbeat failed"));
      },
      Math.max(1, Math.floor(this.opts.staleMs / 4)),
    );
    timer.unref();
    return state;
  }

  /** What the batch's `error_message` says about an ingest that threw. */
  private failureOf(err: unknown, batchId: string): string {
    if (err instanceof IngestFailure) return err.message;
    if (err instanceof InputFileError) return `file_id: ${err.message}`;
    this.logger.error({ err, batch_id: batchId }, "batch ingest failed");
    return "the ingest of the input file failed; create the batch again";
  }

  /** Reads and stores every row; false when the batch is no longer ours to ingest. */
  private async readAll(job: IngestJob, tally: Tally, heartbeat: { lost: boolean }): Promise<boolean> {
    let entries: IngestEntry[] = job.first ?? [];
    let sliceStart = performance.now();
    for (;;) {
      for (const entry of entries) {
        tally.add(entry);
        if (tally.chunk.length >= this.opts.chunkRows) {
          if (!(await this.storeChunk(job, tally))) return false;
          sliceStart = performance.now();
        }
      }
      if (this.stopping) throw new Stopping();
      if (heartbeat.lost) return false;
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

  /**
   * Stores the tally's chunk with where the ingest stands once it is in, then lets other work
   * run; false when the batch is no longer ours.
   */
  private async storeChunk(job: IngestJob, tally: Tally): Promise<boolean> {
    if (this.stopping) throw new Stopping();
    // The store may run the callback again (retry); the last run is the one it wrote.
    let written: { stored: Set<number>; progress: IngestProgress } | null = null;
    const stored = await this.store.batches.ingestChunk(
      job.batch.id,
      tally.chunk,
      Date.now(),
      this.owner,
      (s) => {
        const progress = tally.progressAfter(s);
        written = { stored: s, progress };
        return progress;
      },
    );
    if (stored === null) return false;
    const w = written as { stored: Set<number>; progress: IngestProgress } | null;
    tally.record(stored, w && sameSet(w.stored, stored) ? w.progress : tally.progressAfter(stored));
    await yieldToLoop();
    return true;
  }

  private async finish(job: IngestJob, tally: Tally, failure: string | null): Promise<void> {
    const invalid = tally.errorCount > 0 && (job.progress.onInvalidRows === "fail" || tally.stored === 0);
    const message = failure ?? (invalid ? `${tally.errorCount} validation error(s)` : null);
    const end =
      message === null
        ? { kind: "ready" as const, errors: tally.errors }
        : { kind: "failed" as const, message, errors: tally.errors };
    const batch = await this.store.batches.finishIngest(job.batch.id, end, Date.now(), this.owner);
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
