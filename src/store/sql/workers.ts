import type { LiveWorker, WorkerRegistry } from "../workers.js";
import type { Row, SqlDriver } from "./driver.js";
import { n } from "./rows.js";

/** Worker heartbeats and the maintenance leader (the driver's exclusive run). */
export class SqlWorkerRegistry implements WorkerRegistry {
  constructor(private readonly db: SqlDriver) {}

  runAsLeader<T>(task: string, fn: () => Promise<T>): Promise<T | undefined> {
    return this.db.runExclusive(task, fn);
  }

  async heartbeat(
    workerId: string,
    now: number,
    staleBefore: number,
    startedAt = now,
    onWritten?: () => void,
  ): Promise<LiveWorker[]> {
    // Its own statement (committed on its own), so that the caller knows when it landed.
    await this.db.run(
      `INSERT INTO workers (id, started_at, last_seen) VALUES (?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen`,
      [workerId, startedAt, now],
    );
    onWritten?.();
    await this.db.run("DELETE FROM workers WHERE last_seen < ?", [staleBefore]);
    const rows = await this.db.all("SELECT id, started_at, last_seen FROM workers");
    return rows.map((r: Row) => ({
      id: r.id as string,
      startedAt: n(r.started_at),
      lastSeen: n(r.last_seen),
    }));
  }

  async live(staleBefore: number): Promise<string[]> {
    const rows = await this.db.all("SELECT id FROM workers WHERE last_seen >= ?", [staleBefore]);
    return rows.map((r) => r.id as string);
  }

  async remove(workerId: string): Promise<void> {
    await this.db.run("DELETE FROM workers WHERE id = ?", [workerId]);
  }
}
