import { once } from "node:events";
import { hostname } from "node:os";
import type { Writable } from "node:stream";
import { finished } from "node:stream/promises";
import type { Logger } from "pino";
import { newOpenAIFileId, newOwnerId } from "../../domain/ids.js";
import { TERMINAL_BATCH_STATUSES } from "../../domain/statuses.js";
import { BackgroundLoop } from "../../engine/loop.js";
import type { Signals } from "../../engine/signals.js";
import type { FileStorage } from "../../files/storage.js";
import type { ApiBatch } from "../../store/api-batches.js";
import type { FilePurpose, FileRecord, Store } from "../../store/types.js";
import { errorLine, outputLine } from "./openai-wire.js";

/** Items read per keyset page while writing: memory stays bounded whatever the batch size. */
const PAGE = 1000;

/** Writing an output file failed (ENOSPC, EIO, a bucket refusing): the batch fails, the process goes on. */
class OutputFileError extends Error {
  constructor(override readonly cause: Error) {
    super(`the batch's output file could not be written: ${cause.message}`);
    this.name = "OutputFileError";
  }
}

/** A JSONL file being written, opened on its first line (a batch with no failures gets no error file). */
class JsonlFileWriter {
  private stream: Writable | null = null;
  /** The stream's error, kept: an 'error' event nobody listens to would end the process. */
  private failure: Error | null = null;
  private bytes = 0;
  readonly id = newOpenAIFileId();

  constructor(
    private readonly files: FileStorage,
    private readonly purpose: FilePurpose,
    private readonly name: string,
  ) {}

  async write(chunk: string): Promise<void> {
    if (chunk === "") return;
    if (!this.stream) {
      this.stream = this.files.createWriteStream(this.files.pathFor(this.id));
      this.stream.on("error", (err) => {
        this.failure ??= err;
      });
    }
    this.check();
    this.bytes += Buffer.byteLength(chunk);
    try {
      if (!this.stream.write(chunk)) await once(this.stream, "drain");
    } catch (err) {
      this.failure ??= err as Error;
    }
    this.check();
  }

  private check(): void {
    if (this.failure) throw new OutputFileError(this.failure);
  }

  /** Closes the file and returns its record, or null when nothing was written. */
  async close(workspaceId: string, batchId: string, now: number): Promise<FileRecord | null> {
    if (!this.stream) return null;
    this.check();
    this.stream.end();
    try {
      await finished(this.stream);
    } catch (err) {
      this.failure ??= err as Error;
    }
    this.check();
    return {
      id: this.id,
      workspaceId,
      purpose: this.purpose,
      scope: "persistent",
      originalName: this.name,
      contentType: "application/jsonl",
      size: this.bytes,
      storagePath: this.files.pathFor(this.id),
      meta: { batch_id: batchId },
      createdAt: now,
    };
  }

  async discard(): Promise<void> {
    if (!this.stream) return;
    this.stream.destroy();
    await this.files.remove(this.files.pathFor(this.id)).catch(() => {});
  }
}

/**
 * Writes the output and error files of OpenAI-shaped batches once they end. It reacts to batch
 * transitions and also sweeps the store every `sweepMs` for ended batches whose files are still
 * due, so a batch that ended while no API process ran (or whose writer died mid-file: its take
 * goes stale after `staleMs`) still gets its files. The store's compare-and-set take lets several
 * API processes sweep at once.
 */
export class OpenAIOutputWriter {
  readonly owner = newOwnerId(hostname(), process.pid);
  private readonly loop: BackgroundLoop;
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly store: Store,
    private readonly files: FileStorage,
    private readonly signals: Signals,
    private readonly logger: Logger,
    private readonly opts: { sweepMs: number; staleMs: number } = { sweepMs: 1000, staleMs: 120_000 },
  ) {
    this.loop = new BackgroundLoop({
      iteration: () => this.sweep(),
      intervalMs: opts.sweepMs,
      unref: true,
      onError: (err) => logger.error({ err }, "writing batch output files failed"),
    });
  }

  start(): void {
    this.unsubscribe = this.signals.onBatchChanged((change) => {
      if (change.transitions.some((t) => TERMINAL_BATCH_STATUSES.includes(t.to))) this.kick();
    });
    this.loop.start();
  }

  /** Runs a sweep now (or right after the one in progress). */
  kick(): void {
    this.loop.poke();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    await this.loop.stop();
  }

  private async sweep(): Promise<void> {
    try {
      for (;;) {
        const taken = await this.store.apiBatches.claimFinalization(
          this.owner,
          Date.now(),
          this.opts.staleMs,
          10,
        );
        if (taken.length === 0) return;
        for (const ab of taken) {
          if (!this.loop.active) return;
          await this.write(ab);
        }
      }
    } catch (err) {
      this.logger.error({ err }, "writing batch output files failed; retrying on the next sweep");
    }
  }

  private async write(ab: ApiBatch): Promise<void> {
    const { batch } = ab;
    const output = new JsonlFileWriter(this.files, "batch_output", `${batch.id}_output.jsonl`);
    const errors = new JsonlFileWriter(this.files, "batch_error", `${batch.id}_error.jsonl`);
    try {
      let afterSeq = -1;
      for (;;) {
        const items = await this.store.items.listAfter(batch.id, afterSeq, PAGE);
        if (items.length === 0) break;
        let out = "";
        let err = "";
        for (const it of items) {
          if (it.status === "success") out += `${JSON.stringify(outputLine(it))}\n`;
          else err += `${JSON.stringify(errorLine(it))}\n`;
        }
        await output.write(out);
        await errors.write(err);
        afterSeq = items[items.length - 1].seq;
      }
      const now = Date.now();
      const files = {
        output: await output.close(batch.workspaceId, batch.id, now),
        error: await errors.close(batch.workspaceId, batch.id, now),
      };
      const stored = await this.store.apiBatches.completeFinalization(batch.id, this.owner, files, now);
      if (!stored) {
        // Another process took the batch over (this take had gone stale): its files win.
        for (const f of [files.output, files.error]) if (f) await this.files.remove(f.storagePath);
        return;
      }
      this.logger.info(
        { batch_id: batch.id, output_file_id: files.output?.id, error_file_id: files.error?.id },
        "batch output files written",
      );
      this.signals.notifyBatchChanged({ batchIds: [batch.id], transitions: [] });
    } catch (err) {
      await output.discard();
      await errors.discard();
      if (!(err instanceof OutputFileError)) throw err;
      await this.failBatch(ab, err);
    }
  }

  /** The files cannot be written: the batch is shown failed with the reason, not retried forever. */
  private async failBatch(ab: ApiBatch, err: OutputFileError): Promise<void> {
    const error = { code: "output_write_failed", message: err.message, param: null, line: null };
    const failed = await this.store.apiBatches.failFinalization(ab.batch.id, this.owner, error, Date.now());
    this.logger.error({ batch_id: ab.batch.id, err: err.cause }, "batch output files could not be written");
    if (failed) this.signals.notifyBatchChanged({ batchIds: [ab.batch.id], transitions: [] });
  }
}
