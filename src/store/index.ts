import { PostgresDriver } from "./postgres/driver.js";
import { SqlStore } from "./sql/sql-store.js";
import { SqliteDriver } from "./sqlite/driver.js";
import type { Store } from "./store.js";

export type { Store } from "./store.js";

export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//.test(url);
}

/**
 * Opens the store a database URL names: `sqlite:PATH` (or a bare path, or `sqlite::memory:`),
 * or `postgres://...` / `postgresql://...` (`?schema=NAME` picks a schema). Migrations run
 * before it is returned.
 */
export async function openStore(url: string): Promise<Store> {
  let store: Store;
  if (isPostgresUrl(url)) {
    store = new SqlStore(new PostgresDriver(url));
  } else {
    const path = url.startsWith("sqlite:") ? url.slice("sqlite:".length) : url;
    if (!path) throw new Error(`--db: no SQLite path in "${url}"; write sqlite:./data/agentbatch.db`);
    store = new SqlStore(new SqliteDriver(path));
  }
  await store.migrate();
  return store;
}
