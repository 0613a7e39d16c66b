import { PostgresDriver } from "./postgres/driver.js";
import { postgresMigrations } from "./postgres/migrations.js";
import { SqlStore } from "./sql-store.js";
import { SqliteDriver } from "./sqlite/driver.js";
import { sqliteMigrations } from "./sqlite/migrations.js";

export { SqlStore } from "./sql-store.js";
export type { Store } from "./types.js";

export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//.test(url);
}

/**
 * Opens the store a database URL names: `sqlite:PATH` (or a bare path, or `sqlite::memory:`),
 * or `postgres://...` / `postgresql://...` (`?schema=NAME` picks a schema). Migrations run
 * before it is returned.
 */
export async function openStore(url: string): Promise<SqlStore> {
  let store: SqlStore;
  if (isPostgresUrl(url)) {
    store = new SqlStore(new PostgresDriver(url), postgresMigrations);
  } else {
    const path = url.startsWith("sqlite:") ? url.slice("sqlite:".length) : url;
    if (!path) throw new Error(`--db: no SQLite path in "${url}"; write sqlite:./data/agentbatch.db`);
    store = new SqlStore(new SqliteDriver(path), sqliteMigrations);
  }
  await store.migrate();
  return store;
}
