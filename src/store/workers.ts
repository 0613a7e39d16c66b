/** The processes taking part in the work: heartbeats (limit shares) and the maintenance leader. */

export interface WorkerRegistry {
  /**
   * Records that worker `workerId` is alive, forgets workers not seen since `staleBefore`, and
   * returns how many workers are alive (itself included): per-upstream limits are split by it.
   */
  heartbeat(workerId: string, now: number, staleBefore: number): Promise<number>;
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
