import { PostgresDriver } from "./postgres/driver.js";
import { postgresMigrations } from "./postgres/migrations.js";
import { PostgresNotifier } from "./postgres/notifier.js";
import { SqlStore } from "./sql-store.js";
import { SqliteDriver } from "./sqlite/driver.js";
import { sqliteMigrations } from "./sqlite/migrations.js";

export { MAX_NOTIFY_PAYLOAD, PostgresNotifier } from "./postgres/notifier.js";
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

/**
 * The cross-process broadcast channel of a PostgreSQL store, listening once this resolves;
 * null for SQLite, where one process owns the database and in-process signals suffice.
 */
export async function openNotifier(
  store: SqlStore,
  onError?: (err: Error) => void,
): Promise<PostgresNotifier | null> {
  if (!(store.driver instanceof PostgresDriver)) return null;
  const notifier = new PostgresNotifier(store.driver, onError);
  await notifier.start();
  return notifier;
}
