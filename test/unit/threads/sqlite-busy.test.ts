/**
 * Two connections of one process on a SQLite file, as the API thread's and the engine thread's
 * are (`threads`), or as the store's and the WAL checkpointer's always are: a write that finds
 * the other connection holding the write lock waits with an awaited backoff (this thread's event
 * loop runs meanwhile) and goes through once the lock is let go; past its deadline it fails with
 * SQLITE_BUSY. A write that finds the file free reads
 * no clock. A failed snapshot read keeps its error.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { migrations } from "../../../src/store/migrations/index.js";
import { SqliteDriver } from "../../../src/store/sqlite/driver.js";
import { waitFor } from "../../helpers/wait.js";

describe("SQLite with two connections in one process (threads)", () => {
  let dir: string;
  let a: SqliteDriver;
  let b: SqliteDriver;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "agentbatch-busy-"));
    a = new SqliteDriver(join(dir, "db.sqlite"), { threads: true });
    await a.run("CREATE TABLE t (x INTEGER)");
  });
  afterEach(async () => {
    await a.close();
    await b?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Holds `a`'s write lock (an open BEGIN IMMEDIATE) until the returned function is called. */
  async function holdWriteLock(): Promise<{ release: () => void; done: Promise<void> }> {
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => {
      locked = r;
    });
    const done = a.transaction(async (tx) => {
      await tx.run("INSERT INTO t (x) VALUES (1)");
      locked();
      await held;
    });
    await isLocked;
    return { release, done };
  }

  it("a transaction and a statement wait for the other connection's write lock without failing", async () => {
    b = new SqliteDriver(join(dir, "db.sqlite"), { threads: true });
    const lock = await holdWriteLock();
    const tx = b.transaction(async (t) => t.run("INSERT INTO t (x) VALUES (2)"));
    const stmt = b.run("INSERT INTO t (x) VALUES (3)");
    // Both found the file busy and wait asynchronously: this loop polls meanwhile.
    await waitFor(() => b.busyWaits >= 2, { what: "both writes to find the file busy" });
    lock.release();
    await lock.done;
    expect(await tx).toBe(1);
    expect(await stmt).toBe(1);
    const rows = await b.all("SELECT x FROM t ORDER BY x");
    expect(rows.map((r) => r.x)).toEqual([1, 2, 3]);
  });

  it("reads of the waiting connection go on while its transaction waits for the lock", async () => {
    b = new SqliteDriver(join(dir, "db.sqlite"), { threads: true });
    const lock = await holdWriteLock();
    const tx = b.transaction(async (t) => t.run("INSERT INTO t (x) VALUES (2)"));
    await waitFor(() => b.busyWaits >= 1, { what: "the transaction to find the file busy" });
    // Not held behind the waiting transaction's mutex.
    expect(await b.all("SELECT x FROM t")).toEqual([]);
    lock.release();
    await lock.done;
    expect(await tx).toBe(1);
  });

  it("past its deadline, a write still finding the file busy fails with SQLITE_BUSY", async () => {
    b = new SqliteDriver(join(dir, "db.sqlite"), { threads: true, busyDeadlineMs: 200 });
    const lock = await holdWriteLock();
    try {
      await expect(b.transaction(async (t) => t.run("INSERT INTO t (x) VALUES (2)"))).rejects.toMatchObject({
        code: expect.stringMatching(/^SQLITE_BUSY/),
      });
      await expect(b.run("INSERT INTO t (x) VALUES (3)")).rejects.toMatchObject({
        code: expect.stringMatching(/^SQLITE_BUSY/),
      });
    } finally {
      lock.release();
      await lock.done;
    }
    expect(await b.run("INSERT INTO t (x) VALUES (4)")).toBe(1);
  });

  it("a transaction or statement that finds the file free reads no clock, with or without threads", async () => {
    b = new SqliteDriver(join(dir, "other.sqlite"));
    await b.run("CREATE TABLE t (x INTEGER)");
    const now = vi.spyOn(Date, "now");
    try {
      for (const driver of [a, b]) {
        await driver.transaction(async (tx) => tx.run("INSERT INTO t (x) VALUES (1)"));
        await driver.run("INSERT INTO t (x) VALUES (2)");
      }
      expect(now).not.toHaveBeenCalled();
    } finally {
      now.mockRestore();
    }
    expect(a.busyWaits + b.busyWaits).toBe(0);
  });

  it("a connection without threads waits for another connection's lock without holding its event loop", async () => {
    // Every file has another connection beside the store's: the WAL checkpointer's, whose
    // RESTART holds writers off for tens of ms. SQLite's own busy wait would sleep on this thread.
    b = new SqliteDriver(join(dir, "db.sqlite"));
    const other = new Database(join(dir, "db.sqlite"));
    // The loop's turns, from before the writes start: a thread asleep in SQLite leaves a gap.
    const turns: number[] = [];
    const timer = setInterval(() => turns.push(performance.now()), 1);
    try {
      other.exec("BEGIN IMMEDIATE");
      other.exec("INSERT INTO t (x) VALUES (1)");
      turns.push(performance.now());
      const tx = b.transaction(async (t) => t.run("INSERT INTO t (x) VALUES (2)"));
      const stmt = b.run("INSERT INTO t (x) VALUES (3)");
      await waitFor(() => b.busyWaits >= 2 && turns.length >= 10, {
        what: "both writes to wait, the loop turning",
      });
      other.exec("COMMIT");
      expect(await tx).toBe(1);
      expect(await stmt).toBe(1);
      turns.push(performance.now());
      // The old driver slept 10 s in SQLite's busy handler per write; 1 s leaves room for a slow machine.
      const longest = Math.max(...turns.slice(1).map((t, i) => t - turns[i]));
      expect(longest).toBeLessThan(1000);
      const rows = await b.all("SELECT x FROM t ORDER BY x");
      expect(rows.map((r) => r.x)).toEqual([1, 2, 3]);
    } finally {
      clearInterval(timer);
      if (other.inTransaction) other.exec("ROLLBACK");
      other.close();
    }
  });

  it("closing waits for a write that is waiting out a busy file", async () => {
    b = new SqliteDriver(join(dir, "db.sqlite"));
    const other = new Database(join(dir, "db.sqlite"));
    try {
      other.exec("BEGIN IMMEDIATE");
      const tx = b.transaction(async (t) => t.run("INSERT INTO t (x) VALUES (2)"));
      await waitFor(() => b.busyWaits >= 1, { what: "the write to find the file busy" });
      const closed = b.close();
      other.exec("COMMIT");
      // Not closed under it: its next try finds the file free and commits.
      expect(await tx).toBe(1);
      await closed;
      expect(other.prepare("SELECT x FROM t").all()).toEqual([{ x: 2 }]);
    } finally {
      if (other.inTransaction) other.exec("ROLLBACK");
      other.close();
      b = new SqliteDriver(join(dir, "db.sqlite"));
    }
  });

  it("migrations wait for another connection's lock, and two connections migrating apply each once", async () => {
    const path = join(dir, "fresh.sqlite");
    const other = new Database(path);
    const c = new SqliteDriver(path);
    b = new SqliteDriver(path);
    try {
      // Both read that nothing is applied (a read goes on under another's write lock), then
      // both wait to apply the first migration: the one that gets the lock second must skip it.
      other.exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
      // Each connection sees the table (its schema read), so its CREATE … IF NOT EXISTS writes nothing.
      for (const driver of [b, c])
        expect(await driver.all("SELECT version FROM schema_migrations")).toEqual([]);
      other.exec("BEGIN IMMEDIATE");
      other.exec("CREATE TABLE held (x INTEGER)");
      const both = Promise.all([b.migrate(migrations), c.migrate(migrations)]);
      await waitFor(() => b.busyWaits >= 1 && c.busyWaits >= 1, {
        what: "both migrations to find the file busy",
      });
      other.exec("COMMIT");
      await both;
      const versions = other.prepare("SELECT version FROM schema_migrations ORDER BY version").all();
      expect(versions).toEqual(migrations.map((m) => ({ version: m.version })));
    } finally {
      if (other.inTransaction) other.exec("ROLLBACK");
      other.close();
      await c.close();
    }
  });

  it("a snapshot read that fails keeps its own error", async () => {
    const err = new Error("the read's own error");
    await expect(
      a.readSnapshot(async (tx) => {
        await tx.all("SELECT x FROM t");
        throw err;
      }),
    ).rejects.toBe(err);
    expect(await a.all("SELECT x FROM t")).toEqual([]);
  });
});
