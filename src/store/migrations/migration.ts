/** Column types that differ between the dialects; a migration is written once with these. */
export interface SqlTypes {
  /** 64-bit integers: epoch-ms times, ids, counters (SQLite INTEGER, PostgreSQL BIGINT). */
  bigint: string;
  /** Floating point (SQLite REAL, PostgreSQL DOUBLE PRECISION). */
  real: string;
  /** An auto-numbered integer primary key. */
  serialPk: string;
  /** Raw bytes (SQLite BLOB, PostgreSQL BYTEA). */
  blob: string;
}

/** One schema change; each runs once, in version order, in its own transaction. */
export interface Migration {
  version: number;
  sql: (types: SqlTypes) => string;
}
