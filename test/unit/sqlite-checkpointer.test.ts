import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { migrations } from "../../src/store/migrations/index.js";
import { WalCheckpointer } from "../../src/store/sqlite/checkpointer.js";
import { SqliteDriver } from "../../src/store/sqlite/driver.js";
import { waitFor } from "../helpers/wait.js";

/** A WAL-mode file with table `t`, checkpointed by no one but the test's worker. */
function walDatabase(path: string): Database.Database {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("wal_autocheckpoint = 0");
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
  return db;
}

/** A worker that ticks every 5 ms and falls back to RESTART past 50 pages; it must not fail. */
function eagerCheckpointer(path: string): WalCheckpointer {
  return new WalCheckpointer(
    path,
    (err) => {
      throw err;
    },
    { intervalMs: 5, limitFrames: 50 },
  );
}

describe("SQLite WAL checkpoints in a worker thread", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "agentbatch-ckpt-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("copies committed pages into the file; closing the store removes the WAL", async () => {
    const path = join(dir, "a.db");
    const driver = new SqliteDriver(path);
    await driver.run("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    for (let i = 0; i < 20; i++) {
      await driver.transaction(async (tx) => {
        await tx.run("INSERT INTO t (v) VALUES (?)", ["x".repeat(2000)]);
      });
    }
    await waitFor(() => (driver.checkpointStats()?.checkpoints ?? 0) > 0);
    expect(await driver.get("SELECT COUNT(*) AS n FROM t")).toEqual({ n: 20 });
    await driver.close();
    expect(existsSync(`${path}-wal`)).toBe(false);
    const reopened = new Database(path, { readonly: true });
    expect(reopened.prepare("SELECT COUNT(*) AS n FROM t").get()).toEqual({ n: 20 });
    reopened.close();
  });

  it("restarts a WAL past its limit, which no write restarts by itself", async () => {
    const path = join(dir, "b.db");
    const db = walDatabase(path);
    const checkpointer = eagerCheckpointer(path);
    // One transaction of ~100 pages: a PASSIVE checkpoint copies them, but the WAL still holds
    // them (only a write starts it over), so the worker falls back to RESTART.
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
    db.transaction(() => {
      for (let i = 0; i < 100; i++) insert.run("y".repeat(4000));
    })();
    await waitFor(() => checkpointer.stats().restarts > 0);
    expect(checkpointer.stats().maxWalFrames).toBeGreaterThanOrEqual(50);
    await checkpointer.close();
    // Everything was copied, and the next write starts the WAL from its first page.
    insert.run("z");
    const [after] = db.pragma("wal_checkpoint(PASSIVE)") as { log: number }[];
    expect(after.log).toBeLessThan(10);
    db.close();
  });

  it("does not hold writes off while a reader stays in the WAL: its RESTART waits briefly and backs off", async () => {
    const path = join(dir, "c.db");
    const db = walDatabase(path);
    // Shorter than a RESTART that waited its old 5 s for the reader: a write held that long fails.
    db.pragma("busy_timeout = 2000");
    const reader = new Database(path);
    reader.exec("BEGIN");
    reader.prepare("SELECT COUNT(*) FROM t").get(); // a snapshot held open (a backup, a replica)
    const checkpointer = eagerCheckpointer(path);
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
    for (let i = 0; i < 100; i++) insert.run("y".repeat(4000));
    // Small commits go on while the worker tries (and backs off) three times: each succeeds.
    let rows = 100;
    const deadline = Date.now() + 20_000;
    while (checkpointer.stats().busyRestarts < 3) {
      if (Date.now() > deadline) throw new Error("no RESTART tried before the deadline");
      insert.run("w");
      rows++;
      await new Promise((r) => setImmediate(r));
    }
    expect(checkpointer.stats().restarts).toBe(0);
    // The reader leaves: a later RESTART goes through.
    reader.exec("COMMIT");
    reader.close();
    await waitFor(() => checkpointer.stats().restarts > 0);
    await checkpointer.close();
    expect(db.prepare("SELECT COUNT(*) AS n FROM t").get()).toEqual({ n: rows });
    db.close();
  });

  it("starts no worker for a store that only reads; its first write starts it", async () => {
    const path = join(dir, "d.db");
    const first = new SqliteDriver(path);
    await first.migrate(migrations); // a new file: the migrations write
    expect(first.checkpointStats()).not.toBeNull();
    await first.close();

    const driver = new SqliteDriver(path);
    try {
      await driver.migrate(migrations); // nothing left to apply
      expect(await driver.get("SELECT COUNT(*) AS n FROM batches")).toEqual({ n: 0 });
      await driver.readSnapshot((tx) => tx.all("SELECT id FROM workspaces"));
      await driver.transaction((tx) => tx.all("SELECT id FROM batch_items LIMIT 1"));
      expect(driver.checkpointStats()).toBeNull();

      await driver.transaction(async (tx) => {
        await tx.run("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
        for (let i = 0; i < 20; i++) await tx.run("INSERT INTO t (v) VALUES (?)", ["x".repeat(2000)]);
      });
      expect(driver.checkpointStats()).not.toBeNull();
      await waitFor(() => (driver.checkpointStats()?.checkpoints ?? 0) > 0);
    } finally {
      await driver.close();
    }
    expect(existsSync(`${path}-wal`)).toBe(false);
  });

  it("a connection whose other thread writes (threads) starts its worker at once; one with checkpoints off never", async () => {
    const path = join(dir, "e.db");
    const api = new SqliteDriver(path, { threads: true });
    const engine = new SqliteDriver(path, { threads: true, checkpoints: false });
    try {
      expect(api.checkpointStats()).not.toBeNull();
      await engine.run("CREATE TABLE t (id INTEGER PRIMARY KEY)");
      expect(engine.checkpointStats()).toBeNull();
    } finally {
      await engine.close();
      await api.close();
    }
  });

  it("leaves an in-memory database without a worker", async () => {
    const driver = new SqliteDriver(":memory:");
    expect(driver.checkpointStats()).toBeNull();
    await driver.close();
  });
});
