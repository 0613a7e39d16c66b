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
 * before it is returned. `threads`: another thread of this process opens the same SQLite file
 * (the engine thread): the store's broadcast then reaches it. `checkpoints: false`: that other
 * connection checkpoints the SQLite file's WAL (`sqlite/checkpointer.ts`), this one does not.
 */
export async function openStore(
  url: string,
  options: { threads?: boolean; checkpoints?: boolean } = {},
): Promise<Store> {
  let store: Store;
  if (isPostgresUrl(url)) {
    store = new SqlStore(new PostgresDriver(url));
  } else {
    const path = url.startsWith("sqlite:") ? url.slice("sqlite:".length) : url;
    if (!path) throw new Error(`--db: no SQLite path in "${url}"; write sqlite:./data/agentbatch.db`);
    store = new SqlStore(new SqliteDriver(path, options));
  }
  await store.migrate();
  return store;
}

/** The SQLite file a database URL names, or null (PostgreSQL, or `sqlite::memory:`: not shared by threads). */
export function sqliteFile(url: string): string | null {
  if (isPostgresUrl(url)) return null;
  const path = url.startsWith("sqlite:") ? url.slice("sqlite:".length) : url;
  return path && path !== ":memory:" ? path : null;
}
