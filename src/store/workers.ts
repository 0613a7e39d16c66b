/** The processes taking part in the work: heartbeats (limit shares) and the maintenance leader. */

/** A live worker's row, as one heartbeat read it. */
export interface LiveWorker {
  id: string;
  /** When the row was inserted: the worker's first beat, or its first after it was forgotten. */
  startedAt: number;
  /** The `now` of its latest beat (written before that beat counted the live workers). */
  lastSeen: number;
}

export interface WorkerRegistry {
  /**
   * Records that worker `workerId` is alive, forgets workers not seen since `staleBefore`, and
   * returns the live workers (itself included): per-upstream limits are split by them. A row
   * inserted (the first beat, or the first after the worker was forgotten) starts at `startedAt`.
   * `onWritten` is called as soon as the row's write (`now`) has committed, before the rest.
   */
  heartbeat(
    workerId: string,
    now: number,
    staleBefore: number,
    startedAt?: number,
    onWritten?: () => void,
  ): Promise<LiveWorker[]>;
  /** The ids of the workers seen since `staleBefore` (alive; the others hold nothing any more). */
  live(staleBefore: number): Promise<string[]>;
  /** Forgets a worker that stops. */
  remove(workerId: string): Promise<void>;
  /**
   * Runs `fn` only if no other process runs the task of that name now (maintenance leader);
   * returns undefined without running it otherwise. SQLite: the one process always runs it.
   */
  runAsLeader<T>(task: string, fn: () => Promise<T>): Promise<T | undefined>;
}
