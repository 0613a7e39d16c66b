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
}

export interface Migration {
  version: number;
  sql: string;
}

/** One database connection (SQLite) or pool (PostgreSQL) behind the dialect-neutral store. */
export interface SqlDriver extends SqlExecutor {
  readonly dialect: "sqlite" | "postgres";
  /**
   * Runs `fn` in one transaction that takes write locks up front, and retries it when the
   * database aborts it for a deadlock or serialization conflict, so `fn` must have no effects
   * outside the database.
   */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` unless another process runs the task of that name right now (then returns
   * undefined at once). PostgreSQL: a session advisory lock per schema; SQLite: one process
   * owns the file, so `fn` always runs.
   */
  runExclusive<T>(task: string, fn: () => Promise<T>): Promise<T | undefined>;
  /** Applies the migrations not yet applied, in order, each in its own transaction. */
  migrate(migrations: Migration[]): Promise<void>;
  close(): Promise<void>;
}
