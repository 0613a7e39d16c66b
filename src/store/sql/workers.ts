import type { LiveWorker, WorkerRegistry } from "../workers.js";
import type { Row, SqlDriver } from "./driver.js";
import { n } from "./rows.js";

/**
 * Worker heartbeats and the maintenance leader (the driver's exclusive run). Liveness is
 * written and judged by the database's clock (`clockMs`), so a worker whose host clock is
 * skewed is neither forgotten while it beats nor kept after it died.
 */
export class SqlWorkerRegistry implements WorkerRegistry {
  constructor(private readonly db: SqlDriver) {}

  runAsLeader<T>(task: string, fn: () => Promise<T>): Promise<T | undefined> {
    return this.db.runExclusive(task, fn);
  }

  async heartbeat(
    workerId: string,
    staleMs: number,
    startedAt?: number,
    onWritten?: () => void,
  ): Promise<LiveWorker[]> {
    const now = this.db.clockMs;
    // Its own statement (committed on its own), so that the caller knows when it landed.
    await this.db.run(
      `INSERT INTO workers (id, started_at, last_seen) VALUES (?, COALESCE(?, ${now}), ${now})
       ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen`,
      [workerId, startedAt ?? null],
    );
    onWritten?.();
    await this.db.run(`DELETE FROM workers WHERE last_seen < ${now} - ?`, [staleMs]);
    const rows = await this.db.all("SELECT id, started_at, last_seen FROM workers");
    return rows.map((r: Row) => ({
      id: r.id as string,
      startedAt: n(r.started_at),
      lastSeen: n(r.last_seen),
    }));
  }

  async live(staleMs: number): Promise<string[]> {
    const rows = await this.db.all(`SELECT id FROM workers WHERE last_seen >= ${this.db.clockMs} - ?`, [
      staleMs,
    ]);
    return rows.map((r) => r.id as string);
  }

  async remove(workerId: string): Promise<void> {
    await this.db.run("DELETE FROM workers WHERE id = ?", [workerId]);
  }
}
