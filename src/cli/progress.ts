import cliProgress from "cli-progress";
import type { Batch } from "../client/index.js";

/**
 * A live progress bar on stderr while a batch runs: done (succeeded + failed) of total, failed,
 * the rate since the bar started, and the ETA. Draws only on a terminal, so pipes and scripts
 * get clean output.
 */
export class BatchProgressBar {
  private readonly bar: cliProgress.SingleBar;
  private started = false;
  private readonly startedAt = Date.now();
  private firstDone: number | null = null;

  constructor(stream: NodeJS.WriteStream = process.stderr) {
    this.bar = new cliProgress.SingleBar(
      {
        stream,
        format:
          "{bar} {percentage}% | {value}/{total} done, {failed} failed | {rate}/s | ETA {eta_formatted} | {status}",
        hideCursor: true,
        etaBuffer: 30,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    );
  }

  update(batch: Batch): void {
    const done = batch.completed_requests + batch.failed_requests;
    if (this.firstDone === null) this.firstDone = done;
    const seconds = (Date.now() - this.startedAt) / 1000;
    const payload = {
      failed: batch.failed_requests,
      status: batch.status,
      rate: seconds > 0 ? ((done - this.firstDone) / seconds).toFixed(1) : "0.0",
    };
    if (!this.started) {
      this.bar.start(batch.total_requests, done, payload);
      this.started = true;
    } else {
      this.bar.setTotal(batch.total_requests);
      this.bar.update(done, payload);
    }
  }

  stop(): void {
    if (this.started) this.bar.stop();
  }
}
