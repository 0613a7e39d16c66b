import { setTimeout as sleep } from "node:timers/promises";

/** busy_timeout of an in-memory database: no other connection can hold it. */
export const MEMORY_BUSY_TIMEOUT_MS = 10_000;
/**
 * busy_timeout of a connection to a file. A file has other connections beside the store's: the
 * WAL checkpointer's from the first write (its RESTART, once per ~4,000 WAL pages, holds writers
 * off while it copies the last frames and fsyncs: 22–33 ms measured on the simulated bench,
 * where `BEGIN IMMEDIATE` then waited up to 34 ms), the other thread's (`threads`), another
 * process's (a CLI command). SQLite's own busy wait sleeps on the waiting thread and holds its
 * event loop (every call in flight, every API request) for as long: it is kept to a
 * millisecond, and a `BEGIN IMMEDIATE` or autocommit statement that still finds the file busy is
 * retried after an awaited backoff (`BusyWaits`).
 */
export const FILE_BUSY_TIMEOUT_MS = 1;
/** How long after its first busy try a statement or transaction gives up (SQLITE_BUSY). */
const BUSY_DEADLINE_MS = 30_000;
/** The longest wait between two tries. */
const BUSY_BACKOFF_MAX_MS = 16;

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" && code.startsWith("SQLITE_BUSY");
}

/**
 * A connection's waits for a busy file: when a try that found it busy gives up, the awaited
 * backoff before the next try (the connection's mutex is not held meanwhile), and how many
 * statements or transactions wait now, so that closing the connection waits for them (closed
 * under one, its next try would find the connection gone).
 */
export class BusyWaits {
  /** How many times a statement or transaction found the file busy and waited. */
  count = 0;
  private retrying = 0;
  private idle: (() => void)[] = [];
  private readonly deadlineMs: number;

  /** `deadlineMs` 0: nothing is waited out (an in-memory database waits only in SQLite's handler). */
  constructor(deadlineMs = BUSY_DEADLINE_MS) {
    this.deadlineMs = deadlineMs;
  }

  /** When a statement or transaction that just found the file busy stops waiting; 0: never waits (no clock read). */
  deadline(): number {
    return this.deadlineMs > 0 ? Date.now() + this.deadlineMs : 0;
  }

  /** Whether a failed try is waited out (a busy file, before the deadline); counts the wait. */
  waitsOn(err: unknown, deadline: number): boolean {
    if (deadline === 0 || !isBusy(err) || Date.now() >= deadline) return false;
    this.count++;
    return true;
  }

  /** Waits before try `attempt + 1`; the caller is counted as waiting until its `settled`. */
  async backoff(attempt: number): Promise<void> {
    if (attempt === 0) this.retrying++;
    const ms = Math.min(BUSY_BACKOFF_MAX_MS, 2 ** attempt);
    await sleep(ms / 2 + Math.random() * (ms / 2));
  }

  /** A statement or transaction is done (run or failed) after `attempt` backoffs. */
  settled(attempt: number): void {
    if (attempt === 0 || --this.retrying > 0) return;
    for (const resolve of this.idle.splice(0)) resolve();
  }

  /** Resolves once nothing waits out a busy file. */
  async drained(): Promise<void> {
    while (this.retrying > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
  }
}
