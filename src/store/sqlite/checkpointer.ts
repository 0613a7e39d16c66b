import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

const require = createRequire(import.meta.url);

/**
 * Checkpoints a WAL-mode SQLite file from a worker thread with a connection of its own, so that
 * the store's connection can run with `wal_autocheckpoint = 0`. With SQLite's automatic
 * checkpoint, the COMMIT that took the WAL past 1,000 pages copied them into the database file
 * and fsynced both, on the event loop: about half of what `BEGIN`/`COMMIT` cost the simulated
 * bench (bench/README.md, "Issue 17.5, second pass").
 *
 * Every `intervalMs` the worker looks at the WAL's size (`wal_checkpoint(NOOP)`: the WAL index,
 * no I/O) and runs `wal_checkpoint(PASSIVE)` once `copyFrames` pages wait to be copied, or the
 * first of them has waited `copyDelayMs`: it copies what is committed and never waits for (nor
 * blocks) a writer. A PASSIVE checkpoint every tick (the first version) copied a page again each
 * time a commit rewrote it (the same index and item pages are rewritten by commit after commit):
 * 0.49–0.61 page copies (a read and a write each) per item where 0.40–0.43 now do (bench/README.md,
 * "Issue 17.5, SQLite pages per item"). The WAL restarts from its start at the first write after a
 * checkpoint that copied everything. Under writes that never pause that does not happen (a
 * PASSIVE checkpoint never catches up with a busy writer), so a WAL past `limitFrames` pages is
 * checkpointed with `RESTART` instead, right after a PASSIVE one (little is left to copy): it
 * waits (busy handler) for the writer in progress, holds off the next one while it copies, and
 * waits for readers to leave the WAL, so the next write starts it over: the WAL cannot grow
 * without bound while readers come and go. Its wait is short (`RESTART_WAIT_MS`): writers are
 * held off while it waits, and a reader held open (a backup, a replication tool, a `sqlite3`
 * shell) would otherwise stall every write of the store for the whole busy timeout. A RESTART
 * that finds the file busy is tried again after 1, 2, 4 … 64 ticks. RESTART rather than TRUNCATE: the WAL's blocks are written over instead of the
 * file being cut and grown again; measured, RESTART at 4,000 pages beat TRUNCATE at 10,000 and
 * RESTART at 2,000 (bench/README.md, "Issue 17.5, second pass").
 *
 * Durability: the store's connection keeps `synchronous = NORMAL`, under which a COMMIT appends
 * to the WAL without fsync and a checkpoint fsyncs the WAL before copying it, so a crash of the
 * process loses nothing committed and a power loss may lose the transactions since the last
 * checkpoint (never the file's consistency), whichever thread checkpoints: at most `copyDelayMs`
 * of them (SQLite's own automatic checkpoint bounds them by its 1,000 pages only, with no time
 * bound). An SQLite without the NOOP mode (before 3.51) runs a PASSIVE checkpoint instead (its
 * default mode), i.e. one every tick, as before.
 *
 * The worker's code is a string (`eval`): the same text runs under the TypeScript test runner and
 * from `dist/`, and better-sqlite3 is resolved here and passed in.
 */
export class WalCheckpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  private closing = false;
  /**
   * Shared with the worker: [checkpoints that copied pages, RESTART fallbacks, largest WAL seen
   * (pages), RESTARTs that found the file busy].
   */
  private readonly counters = new Int32Array(new SharedArrayBuffer(4 * Int32Array.BYTES_PER_ELEMENT));

  /** `onFailure` runs if the worker cannot run (the caller turns the automatic checkpoint back on). */
  constructor(
    path: string,
    onFailure: (err: unknown) => void,
    options: { intervalMs?: number; limitFrames?: number; copyFrames?: number; copyDelayMs?: number } = {},
  ) {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        path,
        module: require.resolve("better-sqlite3"),
        intervalMs: options.intervalMs ?? 100,
        limitFrames: options.limitFrames ?? 4_000,
        copyFrames: options.copyFrames ?? 1_000,
        copyDelayMs: options.copyDelayMs ?? 1_000,
        restartWaitMs: RESTART_WAIT_MS,
        counters: this.counters,
      },
    });
    // An unclosed store must not keep the process alive for its checkpoints.
    this.worker.unref();
    this.exited = new Promise((resolve) =>
      this.worker.once("exit", (code) => {
        // Gone without being asked (an error is reported by its own event first): the caller
        // checkpoints again, or the WAL would grow for ever.
        if (!this.closing && code === 0) onFailure(new Error("the WAL checkpointer thread exited"));
        resolve();
      }),
    );
    this.worker.on("error", onFailure);
  }

  /** Checkpoints that copied pages, RESTART fallbacks, the largest WAL seen (pages), busy RESTARTs. */
  stats(): { checkpoints: number; restarts: number; maxWalFrames: number; busyRestarts: number } {
    return {
      checkpoints: Atomics.load(this.counters, 0),
      restarts: Atomics.load(this.counters, 1),
      maxWalFrames: Atomics.load(this.counters, 2),
      busyRestarts: Atomics.load(this.counters, 3),
    };
  }

  /** Stops the timer and closes the worker's connection (before the store closes its own). */
  async close(): Promise<void> {
    this.closing = true;
    // Held until it is gone: an unreferenced worker does not keep the process alive while its
    // caller waits for it, and the process would end inside the caller's `await`.
    this.worker.ref();
    this.worker.postMessage("stop");
    await this.exited;
  }
}

/** How long a RESTART checkpoint waits for the writer and the readers (it holds writers off meanwhile). */
const RESTART_WAIT_MS = 20;

const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.module);
const { path, intervalMs, limitFrames, copyFrames, copyDelayMs, restartWaitMs, counters } = workerData;
const db = new Database(path, { fileMustExist: true });
// Only RESTART waits (PASSIVE never does), and writers wait behind it: keep it short.
db.pragma("busy_timeout = " + restartWaitMs);
let last = "";
let failures = 0;
let restarted = -1;
let skip = 0;
let backoff = 1;
/** When the oldest page still to copy was first seen (0: none waits). */
let waitingSince = 0;
function tick() {
  const [w] = db.pragma("wal_checkpoint(NOOP)");
  if (w.log > Atomics.load(counters, 2)) Atomics.store(counters, 2, w.log);
  // A WAL past its limit is checkpointed and restarted at once (below), copied or not.
  if (w.log < limitFrames || w.log === restarted) {
    const waiting = w.log - w.checkpointed;
    if (waiting <= 0) {
      waitingSince = 0;
      return;
    }
    const at = Date.now();
    if (waitingSince === 0) waitingSince = at;
    if (waiting < copyFrames && at - waitingSince < copyDelayMs) return;
  }
  const [r] = db.pragma("wal_checkpoint(PASSIVE)");
  waitingSince = r.log > r.checkpointed ? Date.now() : 0;
  if (r.log > Atomics.load(counters, 2)) Atomics.store(counters, 2, r.log);
  const now = r.log + "/" + r.checkpointed;
  if (now !== last && r.checkpointed > 0) Atomics.add(counters, 0, 1);
  last = now;
  // Once per WAL: until a write starts it over, the same WAL needs no second RESTART.
  if (r.log >= limitFrames && r.log !== restarted) {
    if (skip > 0) {
      skip--;
      return;
    }
    // Busy (a writer held on past the short wait, or a reader is still in the WAL): tried again
    // after 1, 2, 4 … 64 ticks, so that a reader held open does not hold writers off every tick.
    const [t] = db.pragma("wal_checkpoint(RESTART)");
    if (t.busy === 0) {
      restarted = t.log;
      backoff = 1;
      Atomics.add(counters, 1, 1);
    } else {
      skip = backoff;
      backoff = Math.min(backoff * 2, 64);
      Atomics.add(counters, 3, 1);
    }
  }
}
const timer = setInterval(() => {
  // A busy file is tried again at the next tick; one that stays unusable ends the worker, and
  // the store's connection takes the checkpoints back.
  try {
    tick();
    failures = 0;
  } catch (err) {
    if (++failures >= 20) throw err;
  }
}, intervalMs);
parentPort.on("message", (m) => {
  if (m !== "stop") return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;
