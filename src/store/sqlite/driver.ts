import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import type { Broadcast } from "../broadcast.js";
import type { Migration } from "../migrations/index.js";
import {
  type DriverCapabilities,
  type Row,
  SERIAL_TABLES,
  type SerialTable,
  type SqlDriver,
  type SqlExecutor,
  type SqlTransaction,
} from "../sql/driver.js";
import { BusyWaits, FILE_BUSY_TIMEOUT_MS, MEMORY_BUSY_TIMEOUT_MS } from "./busy-waits.js";
import { WalCheckpointer } from "./checkpointer.js";
import { ThreadBroadcast } from "./thread-broadcast.js";

/** Marks a `BEGIN IMMEDIATE` that found the file busy: the mutex is let go during the backoff. */
const BUSY = Symbol("busy");

/**
 * better-sqlite3 on one connection in WAL mode. Its calls are synchronous; a transaction spans
 * several awaits, so a mutex keeps other statements of this process out of an open transaction
 * (they would otherwise run inside it). `BEGIN IMMEDIATE` takes the write lock up front so that
 * two connections on one file (another process's, the engine thread's, the WAL checkpointer's)
 * wait (an awaited backoff) instead of failing on a lock upgrade.
 */
export class SqliteDriver implements SqlDriver {
  /** One process owns the file: no row locks to skip, no other process to tell. */
  readonly capabilities: DriverCapabilities = {
    rowLocks: false,
    sharedByProcesses: false,
    broadcast: false,
    writingCtes: false,
    updateOrFail: true,
  };
  readonly types = {
    bigint: "INTEGER",
    real: "REAL",
    serialPk: "INTEGER PRIMARY KEY AUTOINCREMENT",
    blob: "BLOB",
  };
  private readonly db: Database.Database;
  /** Statements are prepared once per text and kept (`prepare`): `statementGroups` bounds the texts. */
  readonly preparesPerText = true;
  private readonly statements = new Map<string, Database.Statement>();
  /** Statements in raw mode (rows as arrays), apart: `.raw()` is a mode of the statement. */
  private readonly rawStatements = new Map<string, Database.Statement>();
  private lock: Promise<void> = Promise.resolve();
  private locked = false;
  private readonly direct: SqlExecutor;
  private readonly inTransaction: SqlTransaction;
  /** Checkpoints the WAL off the event loop (a file on disk; `:memory:` has no WAL). */
  private checkpointer: WalCheckpointer | null = null;
  /**
   * This connection starts the checkpointer at its first write (`startCheckpointer`): a store
   * that only reads (a read-only CLI command, a test) starts no thread, since it adds nothing to
   * the WAL. Checked before each statement until then: one boolean test after.
   */
  private checkpointerDue = false;

  /** This connection's waits for a busy file (`busy-waits.ts`). */
  private readonly busy: BusyWaits;

  /**
   * `threads`: another thread of this process opens the same file (the engine thread,
   * `src/threads/`); the two connections' signals cross over a BroadcastChannel named after it.
   * On a file a busy lock is waited for with an awaited backoff (`busyDeadlineMs`, for tests).
   */
  constructor(
    private readonly path: string,
    private readonly options: { threads?: boolean; busyDeadlineMs?: number; checkpoints?: boolean } = {},
  ) {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    const memory = path === ":memory:";
    this.db.pragma(`busy_timeout = ${memory ? MEMORY_BUSY_TIMEOUT_MS : FILE_BUSY_TIMEOUT_MS}`);
    this.busy = new BusyWaits(memory ? 0 : options.busyDeadlineMs);
    this.db.pragma("foreign_keys = ON");
    if (path !== ":memory:") {
      // The worker checkpoints; if it cannot, this connection does again, as SQLite does by default.
      // `checkpoints: false`: another connection of this process (the API thread's, when the
      // engine runs in a thread) has the worker; one per file is enough.
      this.db.pragma("wal_autocheckpoint = 0");
      if (options.checkpoints !== false) {
        this.checkpointerDue = true;
        // With `threads` the other connection (the engine thread's, `checkpoints: false`) writes
        // the WAL and nothing tells this one when: its worker starts at once.
        if (options.threads) this.startCheckpointer();
      }
    }
    this.direct = {
      preparesPerText: true,
      keepPlan: (sql) => sql,
      all: async (sql, params = []) => this.statementFor(sql).all(...params) as Row[],
      get: async (sql, params = []) => this.statementFor(sql).get(...params) as Row | undefined,
      run: async (sql, params = []) => this.statementFor(sql).run(...params).changes,
    };
    this.inTransaction = {
      ...this.direct,
      allRaw: async (sql, params = []) => this.rawStatement(sql).all(...params) as unknown[][],
      reserveIds: async (counts) => this.reserveIds(counts),
    };
  }

  /**
   * Inside a transaction nothing else writes this file (BEGIN IMMEDIATE, the mutex), so the ids
   * after the highest one ever handed out (AUTOINCREMENT's sqlite_sequence, or the highest row)
   * are free until it commits; inserting them moves sqlite_sequence on.
   */
  private reserveIds(counts: Record<SerialTable, number>): Record<SerialTable, number[]> {
    const reserved: Record<SerialTable, number[]> = { chats: [], messages: [] };
    const tables = SERIAL_TABLES.filter((t) => counts[t] > 0);
    if (tables.length === 0) return reserved;
    // One statement for every table asked (a group commit asks for chats and messages).
    const row = this.prepare(
      `SELECT ${tables
        .map(
          (t) => `MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '${t}'), 0),
                  COALESCE((SELECT MAX(id) FROM ${t}), 0)) AS ${t}`,
        )
        .join(", ")}`,
    ).get() as Record<SerialTable, number>;
    for (const t of tables) reserved[t] = Array.from({ length: counts[t] }, (_, i) => row[t] + 1 + i);
    return reserved;
  }

  /** Starts the WAL checkpointer once, before this connection's first write. */
  private startCheckpointer(): void {
    if (!this.checkpointerDue) return;
    this.checkpointerDue = false;
    const autocheckpoint = () => {
      if (this.db.open) this.db.pragma("wal_autocheckpoint = 1000");
    };
    try {
      this.checkpointer = new WalCheckpointer(this.path, autocheckpoint);
    } catch (err) {
      // No worker (it failed to start): SQLite's own checkpoint on commit, as on an unexpected exit,
      // so the WAL cannot grow without bound. The write goes on; the failure is reported.
      autocheckpoint();
      process.emitWarning(
        `SQLite WAL checkpointer did not start (${String(err)}); checkpoints run on commit`,
      );
    }
  }

  /** The prepared statement to run now; the first one that writes starts the checkpointer. */
  private statementFor(sql: string): Database.Statement {
    const s = this.prepare(sql);
    if (this.checkpointerDue && !s.readonly) this.startCheckpointer();
    return s;
  }

  /** Statements are prepared once and cached by their text. */
  private prepare(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  allRaw(sql: string, params: unknown[] = []): Promise<unknown[][]> {
    return this.statement(async () => this.rawStatement(sql).all(...params) as unknown[][]);
  }

  /** The statement of `sql` in raw mode, prepared once (apart from `prepare`'s: a mode of the statement). */
  private rawStatement(sql: string): Database.Statement {
    let s = this.rawStatements.get(sql);
    if (!s) {
      s = this.db.prepare(sql).raw(true);
      this.rawStatements.set(sql, s);
    }
    return s;
  }

  /** 'now' is the same within one statement's step; every process on the file shares the host's clock. */
  readonly clockMs = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";

  /** Statements are prepared once per text already (`prepare`). */
  keepPlan(sql: string): string {
    return sql;
  }

  /**
   * One statement outside a transaction, once no transaction of this connection is open (it
   * would otherwise run inside it). On a file, one that finds it busy did nothing (autocommit)
   * and is run again after an awaited backoff, the mutex checked again each time.
   */
  private async statement<T>(fn: () => Promise<T>): Promise<T> {
    let deadline = 0; // set at the first busy error: the common path reads no clock
    let attempt = 0;
    try {
      for (; ; attempt++) {
        while (this.locked) await this.lock;
        try {
          return await fn();
        } catch (err) {
          if (attempt === 0) deadline = this.busy.deadline();
          if (!this.busy.waitsOn(err, deadline)) throw err;
        }
        await this.busy.backoff(attempt);
      }
    } finally {
      this.busy.settled(attempt);
    }
  }

  /** How many times a statement or transaction of this connection found the file busy and waited. */
  get busyWaits(): number {
    return this.busy.count;
  }

  all(sql: string, params?: unknown[]): Promise<Row[]> {
    return this.statement(() => this.direct.all(sql, params));
  }

  get(sql: string, params?: unknown[]): Promise<Row | undefined> {
    return this.statement(() => this.direct.get(sql, params));
  }

  run(sql: string, params?: unknown[]): Promise<number> {
    return this.statement(() => this.direct.run(sql, params));
  }

  /** Runs `fn` holding the connection: no other statement of this process interleaves. */
  private async exclusively<T>(fn: () => Promise<T>): Promise<T> {
    while (this.locked) await this.lock;
    this.locked = true;
    let release!: () => void;
    this.lock = new Promise<void>((r) => {
      release = r;
    });
    try {
      return await fn();
    } finally {
      this.locked = false;
      release();
    }
  }

  /**
   * `BEGIN IMMEDIATE`, `fn`, `COMMIT`. On a file, a `BEGIN IMMEDIATE` that finds another
   * connection writing lets the mutex go (this thread's reads go on) and tries again after an
   * awaited backoff, up to `busyDeadlineMs` after it first found the file busy; then SQLITE_BUSY
   * is thrown. A transaction that finds the file free reads no clock.
   */
  async transaction<T>(fn: (tx: SqlTransaction) => Promise<T>): Promise<T> {
    let deadline = 0; // set when the first BEGIN IMMEDIATE finds the file busy, as in `statement`
    let attempt = 0;
    try {
      for (; ; attempt++) {
        const outcome = await this.exclusively(async (): Promise<{ value: T } | typeof BUSY> => {
          try {
            this.db.exec("BEGIN IMMEDIATE");
          } catch (err) {
            if (attempt === 0) deadline = this.busy.deadline();
            if (this.busy.waitsOn(err, deadline)) return BUSY;
            throw err;
          }
          try {
            const value = await fn(this.inTransaction);
            this.db.exec("COMMIT");
            return { value };
          } catch (err) {
            if (this.db.inTransaction) this.db.exec("ROLLBACK");
            throw err;
          }
        });
        if (outcome !== BUSY) return outcome.value;
        await this.busy.backoff(attempt);
      }
    } finally {
      this.busy.settled(attempt);
    }
  }

  /**
   * Holding the connection keeps this connection's writes out; a read transaction (WAL: one
   * snapshot from its first read) keeps out those of another connection on the file (the
   * engine thread's, or a second process's).
   */
  readSnapshot<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.exclusively(async () => {
      this.db.exec("BEGIN");
      let result: T;
      try {
        result = await fn(this.direct);
      } catch (err) {
        // fn's error is the one to see, not a failure to end the read transaction.
        try {
          if (this.db.inTransaction) this.db.exec("ROLLBACK");
        } catch {
          /* fn's error wins */
        }
        throw err;
      }
      if (this.db.inTransaction) this.db.exec("COMMIT");
      return result;
    });
  }

  runExclusive<T>(_task: string, fn: () => Promise<T>): Promise<T | undefined> {
    return fn();
  }

  async migrate(migrations: readonly Migration[]): Promise<void> {
    // Through `statement`: a second process opening the file meanwhile (a CLI command while the
    // server migrates) waits for the other's write lock instead of failing after SQLite's 1 ms.
    await this.statement(async () =>
      this.db.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
      ),
    );
    const done = new Set(
      (
        await this.statement(
          async () => this.db.prepare("SELECT version FROM schema_migrations").all() as Row[],
        )
      ).map((r) => r.version),
    );
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      this.startCheckpointer();
      await this.transaction(async () => {
        // Another process may have applied it while this one waited for the write lock.
        if (this.db.prepare("SELECT 1 FROM schema_migrations WHERE version = ?").get(m.version)) return;
        this.db.exec(m.sql(this.types));
        this.db
          .prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)")
          .run(m.version, Date.now());
      });
    }
  }

  async openBroadcast(): Promise<Broadcast | null> {
    return this.options.threads ? new ThreadBroadcast(this.path) : null;
  }

  /** How many statements this connection holds prepared (each kept for its life): for tests. */
  preparedStatements(): number {
    return this.statements.size + this.rawStatements.size;
  }

  /**
   * The WAL checkpoints of this file so far; null while this connection has no checkpointer
   * (`:memory:`, `checkpoints: false`, or no write yet).
   */
  checkpointStats(): ReturnType<WalCheckpointer["stats"]> | null {
    return this.checkpointer?.stats() ?? null;
  }

  async close(): Promise<void> {
    // A statement or transaction waiting out a busy file holds no lock: closed under it, its
    // next try would find the connection gone.
    await this.busy.drained();
    while (this.locked) await this.lock;
    // The worker's connection first: closing the last one checkpoints the WAL and removes it.
    await this.checkpointer?.close();
    this.db.close();
  }
}
