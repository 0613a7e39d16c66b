/** The processes taking part in the work: heartbeats (limit shares) and the maintenance leader. */

/**
 * A live worker's row, as one heartbeat read it. Times are the database's clock (ms), never a
 * worker's own: hosts whose clocks disagree still agree on who is alive.
 */
export interface LiveWorker {
  id: string;
  /** When the row was inserted: the worker's first beat, or its first after it was forgotten. */
  startedAt: number;
  /** The time of its latest beat's row write (written before that beat counted the live workers). */
  lastSeen: number;
}

export interface WorkerRegistry {
  /**
   * Records that worker `workerId` is alive (now, by the database's clock), forgets workers not
   * seen for `staleMs`, and returns the live workers (itself included): per-upstream limits are
   * split by them. A row inserted (the first beat, or the first after the worker was forgotten)
   * starts at `startedAt` (a time this registry returned), or now when not given. `onWritten`
   * is called as soon as the row's write has committed, before the rest.
   */
  heartbeat(
    workerId: string,
    staleMs: number,
    startedAt?: number,
    onWritten?: () => void,
  ): Promise<LiveWorker[]>;
  /** The ids of the workers seen within the last `staleMs` (alive; the others hold nothing any more). */
  live(staleMs: number): Promise<string[]>;
  /** Forgets a worker that stops. */
  remove(workerId: string): Promise<void>;
  /**
   * Runs `fn` only if no other process runs the task of that name now (maintenance leader);
   * returns undefined without running it otherwise. SQLite: the one process always runs it.
   */
  runAsLeader<T>(task: string, fn: () => Promise<T>): Promise<T | undefined>;
}
