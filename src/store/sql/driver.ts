import { LRUCache } from "lru-cache";
import type { Broadcast } from "../broadcast.js";
import type { Migration, SqlTypes } from "../migrations/index.js";

/** A row as the database driver returns it. */
export type Row = Record<string, any>;

/**
 * Runs statements. SQL is written once with `?` placeholders; each driver adapts it to its
 * dialect (PostgreSQL's `$1`), so the store's queries are not written twice.
 */
export interface SqlExecutor {
  all(sql: string, params?: unknown[]): Promise<Row[]>;
  get(sql: string, params?: unknown[]): Promise<Row | undefined>;
  /** Returns the number of rows changed. */
  run(sql: string, params?: unknown[]): Promise<number>;
  /**
   * True where rows can be locked (PostgreSQL): a statement that would lock several rows in an
   * order of the planner's choosing takes their locks in id order first (no deadlocks).
   */
  readonly rowLocks?: boolean;
  /**
   * True where a JavaScript array binds as one parameter, an SQL array (PostgreSQL): a multi-row
   * INSERT binds one array per column (`unnest`) instead of a parameter per value. Every driver
   * with `rowLocks` has it: the statements that lock several rows in id order are written with
   * arrays (`sql/outcomes.ts`, `sql/counters.ts`).
   */
  readonly arrayParams?: boolean;
  /**
   * True where each statement text is prepared once and kept for the connection's life (SQLite):
   * every distinct text costs memory for good, so `statementGroups` gives a fixed set of lengths.
   */
  readonly preparesPerText?: boolean;
  /**
   * `SqlDriver.keepPlan` from where the statement runs: for the one text an `arrayParams`
   * statement has whatever its rows (SQLite keeps every text anyway).
   */
  keepPlan(sql: string): string;
}

/** The executor of one write transaction. */
export interface SqlTransaction extends SqlExecutor {
  /** `sql`'s rows as arrays of their column values, in select order (as `SqlDriver.allRaw`). */
  allRaw(sql: string, params?: unknown[]): Promise<unknown[][]>;
  /**
   * Reserves fresh ids of each table's auto-numbered `id` column (`counts`: how many of each),
   * in increasing order, for rows the caller inserts with explicit ids in the same transaction.
   * Multi-row inserts then need no RETURNING (whose row order neither dialect promises) to
   * learn their ids. One round trip for every table asked. Drivers with `arrayParams` have none:
   * their group commit draws the ids from the sequences in its one statement
   * (`sql/success-statement.ts`).
   */
  reserveIds?(counts: Record<SerialTable, number>): Promise<Record<SerialTable, number[]>>;
}

/** Tables whose ids `reserveIds` hands out. */
export const SERIAL_TABLES = ["chats", "messages"] as const;
export type SerialTable = (typeof SERIAL_TABLES)[number];

/**
 * What a dialect can do. The store's SQL adapts to these capabilities, never to a dialect's
 * name (as Kysely's adapters and River's driver interface do).
 */
export interface DriverCapabilities {
  /**
   * Row locks a transaction can take (`SELECT ... FOR UPDATE`) and other claimers skip
   * (`SKIP LOCKED`). Without them (SQLite) a write transaction already excludes every other.
   */
  rowLocks: boolean;
  /** Several processes work on this database at once (heartbeats, limit shares, a leader). */
  sharedByProcesses: boolean;
  /** The database can carry messages between processes (`openBroadcast`). */
  broadcast: boolean;
  /**
   * Data-modifying `WITH` (several writes in one statement) and `set_config`: where every
   * statement is a network round trip (PostgreSQL), a hot transaction is written as one statement.
   */
  writingCtes: boolean;
  /**
   * `UPDATE OR FAIL` (SQLite). A multi-row UPDATE inside a transaction otherwise keeps a
   * statement journal (the pages it changes, copied so that the statement alone can be undone
   * on a constraint error), spilled to a temp file past 64 KB: a write syscall per page per
   * claim and group commit. Our transactions are undone whole on any error, so FAIL (stop,
   * keep the rows done so far, throw) needs none.
   */
  updateOrFail: boolean;
}

/** One database connection (SQLite) or pool (PostgreSQL) behind the dialect-neutral store. */
export interface SqlDriver extends SqlExecutor {
  readonly capabilities: DriverCapabilities;
  /** The column types of this dialect, for migrations written once. */
  readonly types: SqlTypes;
  /**
   * `sql`'s rows as arrays of their column values, in select order (better-sqlite3 `.raw()`,
   * pg `rowMode: 'array'`): no object per row, for reads of many rows (exports).
   */
  allRaw(sql: string, params?: unknown[]): Promise<unknown[][]>;
  /**
   * SQL for the database's clock in ms since the epoch, the same value wherever it appears in one
   * statement: the one clock that processes on several hosts agree on (worker liveness).
   */
  readonly clockMs: string;
  /**
   * Marks `sql` as a hot statement whose plan is kept, and returns it. PostgreSQL plans every
   * unnamed statement (node-pg's default) at each execution: a kept text is prepared under a name
   * once per connection, its plan cached (PostgreSQL's plan cache: custom plans for the first
   * five executions, then the generic one unless it costs more). SQLite already keeps a prepared
   * statement per text. For a bounded set of texts only (each is a prepared statement on every
   * pooled connection, never freed).
   */
  keepPlan(sql: string): string;
  /**
   * Runs `fn` in one transaction that takes write locks up front, and retries it when the
   * database aborts it for a deadlock or serialization conflict, so `fn` must have no effects
   * outside the database.
   */
  transaction<T>(fn: (tx: SqlTransaction) => Promise<T>): Promise<T>;
  /**
   * Runs `fn`'s reads against one consistent snapshot (PostgreSQL: a read-only REPEATABLE READ
   * transaction; SQLite: no write may interleave), for answers built from several statements.
   */
  readSnapshot<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` unless another process runs the task of that name right now (then returns
   * undefined at once). PostgreSQL: a session advisory lock per schema; SQLite: one process
   * owns the file, so `fn` always runs.
   */
  runExclusive<T>(task: string, fn: () => Promise<T>): Promise<T | undefined>;
  /** Applies the migrations not yet applied, in version order, each in its own transaction. */
  migrate(migrations: readonly Migration[]): Promise<void>;
  /** The cross-process channel, listening once this resolves (only with `capabilities.broadcast`). */
  openBroadcast(onError: (err: Error) => void): Promise<Broadcast | null>;
  close(): Promise<void>;
}

/** `FOR UPDATE [OF alias] SKIP LOCKED` where rows can be locked, nothing where they cannot. */
export function skipLocked(db: { capabilities: DriverCapabilities }, alias?: string): string {
  if (!db.capabilities.rowLocks) return "";
  return alias ? ` FOR UPDATE OF ${alias} SKIP LOCKED` : " FOR UPDATE SKIP LOCKED";
}

/** `UPDATE`, or `UPDATE OR FAIL` where the dialect has it (no statement journal; `updateOrFail`). */
export function updateVerb(db: { capabilities: DriverCapabilities }): string {
  return db.capabilities.updateOrFail ? "UPDATE OR FAIL" : "UPDATE";
}

/** `ORDER BY id FOR UPDATE` where rows can be locked: takes the locks in id order (no deadlocks). */
export function lockInIdOrder(db: { capabilities: DriverCapabilities }): string {
  return db.capabilities.rowLocks ? " ORDER BY id FOR UPDATE" : "";
}

/** Most `?` parameters put in one IN list. */
export const IN_CHUNK = 500;

export function chunks<T>(list: T[], size = IN_CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/**
 * `list` in groups of at most `size` items, one statement each. Where each statement text is
 * prepared once and kept (`preparesPerText`: SQLite), a text built for a group's length (a VALUES
 * row or a `?` per item) is a prepared statement per length for the connection's life, its program
 * ~0.65 KB per VALUES row (a 400-row one ~260 KB of native memory): a store running for days would
 * keep one for every length it ever met, up to `size` per statement shape. There the groups are
 * `size` long, then the rest in powers of two, largest first (237 of 400: 128, 64, 32, 8, 4, 1),
 * so a shape has at most log2(size) + 2 texts (bench/README.md, "Issue 17.3, RSS over time").
 * Elsewhere (PostgreSQL: a text is parsed per run, and a statement more is a round trip more) as
 * `chunks`.
 */
export function statementGroups<T>(db: { preparesPerText?: boolean }, list: T[], size = IN_CHUNK): T[][] {
  if (!db.preparesPerText) return chunks(list, size);
  const out: T[][] = [];
  let i = 0;
  for (; i + size <= list.length; i += size) out.push(list.slice(i, i + size));
  while (i < list.length) {
    const length = 2 ** Math.floor(Math.log2(list.length - i));
    out.push(list.slice(i, i + length));
    i += length;
  }
  return out;
}

/** `?, ?, ?` for k parameters. */
export const marks = (k: number): string => new Array(k).fill("?").join(", ");

/** How many long texts `KeptTexts` keeps. */
const LONG_TEXTS_KEPT = 32;

/**
 * Statement texts built (or converted) once and looked up by a key: short ones kept for good,
 * long ones (`long` at the lookup) in an LRU of `LONG_TEXTS_KEPT`. Multi-row statements come in
 * a text per row count: kept for good, every count of a long one met over a long run could hold
 * hundreds of MB (a group commit's VALUES lists of up to 1,000 rows were ~100 KB each, before
 * they went as arrays), while building and converting one of 200 rows is ~0.2 ms and the same
 * counts recur (bench/README.md, "Issue 17 on a faster machine").
 */
export class KeptTexts {
  private readonly short = new Map<string, string>();
  private readonly long = new LRUCache<string, string>({ max: LONG_TEXTS_KEPT });

  get(key: string, long: boolean, build: () => string): string {
    const kept = long ? this.long : this.short;
    let text = kept.get(key);
    if (text === undefined) {
      text = build();
      kept.set(key, text);
    }
    return text;
  }

  /** Texts kept now. */
  get size(): number {
    return this.short.size + this.long.size;
  }
}
