import pg from "pg";
import type { Broadcast } from "../broadcast.js";
import type { Migration } from "../migrations/index.js";
import {
  type DriverCapabilities,
  KeptTexts,
  type Row,
  type SqlDriver,
  type SqlExecutor,
  type SqlTransaction,
} from "../sql/driver.js";
import { PostgresNotifier } from "./notifier.js";

/** `?` placeholders → `$1, $2, ...` (the store's SQL has no `?` inside literals). */
function toPg(sql: string): string {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
}

/** Longest text whose `$n` conversion is kept for good; longer ones go in `KeptTexts`' LRU. */
const CONVERTED_TEXT_MAX = 8192;

const RETRYABLE = new Set(["40P01", "40001"]); // deadlock detected, serialization failure

/**
 * A pg Pool. BIGINT (epoch-ms times, ids, counts) is parsed as a JavaScript number: every value
 * agentbatch stores fits in 2^53. A `schema=NAME` query parameter in the URL puts every
 * connection on that schema (tests use one schema each so they do not collide).
 */
export class PostgresDriver implements SqlDriver {
  /** Many API nodes and workers share one database; LISTEN/NOTIFY carries signals between them. */
  readonly capabilities: DriverCapabilities = {
    rowLocks: true,
    sharedByProcesses: true,
    broadcast: true,
    writingCtes: true,
    updateOrFail: false,
  };
  readonly types = {
    bigint: "BIGINT",
    real: "DOUBLE PRECISION",
    serialPk: "BIGSERIAL PRIMARY KEY",
    blob: "BYTEA",
  };
  readonly pool: pg.Pool;
  readonly schema: string | null;
  /** How to open a connection of this database outside the pool (LISTEN needs its own). */
  readonly clientConfig: pg.ClientConfig;
  private readonly converted = new KeptTexts();
  /** `keepPlan`'s texts (as sent, `$n` placeholders) → their statement names. */
  private readonly kept = new Map<string, string>();

  constructor(url: string, poolSize = 10) {
    const parsed = new URL(url);
    this.schema = parsed.searchParams.get("schema");
    parsed.searchParams.delete("schema");
    if (this.schema && !/^[a-z_][a-z0-9_]*$/i.test(this.schema))
      throw new Error(`--db: invalid schema name "${this.schema}"`);
    this.clientConfig = {
      connectionString: parsed.toString(),
      ...(this.schema ? { options: `-c search_path=${this.schema}` } : {}),
      types: {
        getTypeParser: (oid: number, format?: any) =>
          oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format),
      } as any,
    };
    this.pool = new pg.Pool({ ...this.clientConfig, max: poolSize });
    // An idle client's error (server restart) must not crash the process; the pool replaces it.
    this.pool.on("error", () => {});
  }

  private sql(text: string): string {
    return this.converted.get(text, text.length > CONVERTED_TEXT_MAX, () => toPg(text));
  }

  keepPlan(sql: string): string {
    const text = this.sql(sql);
    if (!this.kept.has(text)) this.kept.set(text, `kept_${this.kept.size + 1}`);
    return sql;
  }

  /**
   * `sql` as node-pg's query: a kept text (`keepPlan`) under its name, which node-pg prepares
   * once per connection (PostgreSQL then plans it from its plan cache), any other unnamed.
   */
  private query(q: pg.Pool | pg.PoolClient, sql: string, params: unknown[]): Promise<pg.QueryResult> {
    const text = this.sql(sql);
    const name = this.kept.get(text);
    return name === undefined ? q.query(text, params) : q.query({ name, text, values: params });
  }

  private executor(q: pg.Pool | pg.PoolClient): SqlExecutor {
    return {
      all: async (sql, params = []) => (await this.query(q, sql, params)).rows as Row[],
      get: async (sql, params = []) => (await this.query(q, sql, params)).rows[0] as Row | undefined,
      run: async (sql, params = []) => (await this.query(q, sql, params)).rowCount ?? 0,
      rowLocks: true,
      arrayParams: true,
      keepPlan: (sql) => this.keepPlan(sql),
    };
  }

  private transactionExecutor(client: pg.PoolClient): SqlTransaction {
    return {
      ...this.executor(client),
      // The transaction claim's read (\`claimInTransaction\`) is for drivers without writing CTEs:
      // PostgreSQL claims in one statement, so this serves the interface, not the hot path.
      allRaw: async (sql, params = []) =>
        (await client.query({ text: this.sql(sql), values: params, rowMode: "array" })).rows,
    };
  }

  async allRaw(sql: string, params: unknown[] = []): Promise<unknown[][]> {
    return (await this.pool.query({ text: this.sql(sql), values: params, rowMode: "array" })).rows;
  }

  /** The server's clock at the start of the statement's transaction (one value per statement). */
  readonly clockMs = "floor(extract(epoch from now()) * 1000)::bigint";

  all(sql: string, params?: unknown[]): Promise<Row[]> {
    return this.executor(this.pool).all(sql, params);
  }

  get(sql: string, params?: unknown[]): Promise<Row | undefined> {
    return this.executor(this.pool).get(sql, params);
  }

  run(sql: string, params?: unknown[]): Promise<number> {
    return this.executor(this.pool).run(sql, params);
  }

  async transaction<T>(fn: (tx: SqlTransaction) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      try {
        await client.query("BEGIN");
        const result = await fn(this.transactionExecutor(client));
        await client.query("COMMIT");
        return result;
      } catch (err) {
        await client.query("ROLLBACK").catch(() => {});
        if (attempt < 8 && RETRYABLE.has((err as { code?: string }).code ?? "")) {
          await new Promise((r) => setTimeout(r, Math.random() * 10 * attempt));
          continue;
        }
        throw err;
      } finally {
        client.release();
      }
    }
  }

  async readSnapshot<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
      const result = await fn(this.executor(client));
      await client.query("COMMIT");
      return result;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  async runExclusive<T>(task: string, fn: () => Promise<T>): Promise<T | undefined> {
    const client = await this.pool.connect();
    let locked = false;
    try {
      const key = "SELECT hashtext(current_schema() || ':' || $1) AS k";
      const k = (await client.query(key, [task])).rows[0].k as number;
      locked = (await client.query("SELECT pg_try_advisory_lock($1) AS ok", [k])).rows[0].ok === true;
      if (!locked) return undefined;
      try {
        return await fn();
      } finally {
        await client.query("SELECT pg_advisory_unlock($1)", [k]);
        locked = false;
      }
    } finally {
      // A client whose unlock failed still holds the lock: destroy it rather than pool it.
      client.release(locked ? true : undefined);
    }
  }

  async migrate(migrations: readonly Migration[]): Promise<void> {
    const client = await this.pool.connect();
    try {
      // One migrator at a time across every process starting against this database.
      await client.query("SELECT pg_advisory_lock(727271)");
      try {
        if (this.schema) {
          await client.query(`CREATE SCHEMA IF NOT EXISTS "${this.schema}"`);
          await client.query(`SET search_path TO "${this.schema}"`);
        }
        await client.query(
          "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
        );
        const done = new Set(
          (await client.query("SELECT version FROM schema_migrations")).rows.map((r) => r.version),
        );
        for (const m of migrations) {
          if (done.has(m.version)) continue;
          await client.query("BEGIN");
          try {
            await client.query(m.sql(this.types));
            await client.query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", [
              m.version,
              Date.now(),
            ]);
            await client.query("COMMIT");
          } catch (err) {
            await client.query("ROLLBACK");
            throw err;
          }
        }
      } finally {
        await client.query("SELECT pg_advisory_unlock(727271)");
      }
    } finally {
      client.release();
    }
  }

  async openBroadcast(onError: (err: Error) => void): Promise<Broadcast | null> {
    const notifier = new PostgresNotifier(this, onError);
    await notifier.start();
    return notifier;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
