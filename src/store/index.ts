import { SqliteStore } from "./sqlite/sqlite-store.js";
import type { Store } from "./types.js";

export type { Store } from "./types.js";

/**
 * Opens the store a database URL names: `sqlite:PATH` (or a bare path, or `sqlite::memory:`),
 * or `postgres://...` / `postgresql://...`. Migrations run before it is returned.
 */
export async function openStore(url: string): Promise<Store> {
  let store: Store;
  if (/^postgres(ql)?:\/\//.test(url)) {
    throw new Error("--db: the PostgreSQL store is not in this build yet; use sqlite:PATH");
  } else {
    const path = url.startsWith("sqlite:") ? url.slice("sqlite:".length) : url;
    if (!path) throw new Error(`--db: no SQLite path in "${url}"; write sqlite:./data/agentbatch.db`);
    store = new SqliteStore(path);
  }
  await store.migrate();
  return store;
}
