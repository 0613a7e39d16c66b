/**
 * The item table's indexes after every migration, read from the database's own catalog (SQLite
 * and PostgreSQL alike). Each index on `batch_items` is written on every item's status change, so
 * an index that serves no query costs the hot path for nothing (bench/README.md, issue 17.5).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterEach, expect, it } from "vitest";
import { isPostgresUrl, openStore } from "../../src/store/index.js";
import { dropSchema } from "../../src/store/postgres/admin.js";
import { testDbUrl } from "../helpers/server.js";

const dir = mkdtempSync(join(tmpdir(), "agentbatch-schema-"));
const url = testDbUrl(dir);

afterEach(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (isPostgresUrl(url)) await dropSchema(url);
});

/** The names of the indexes on `table`, as the database lists them. */
async function indexesOf(table: string): Promise<string[]> {
  if (!isPostgresUrl(url)) {
    const db = new Database(join(dir, "test.db"), { readonly: true });
    try {
      const rows = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL")
        .all(table) as { name: string }[];
      return rows.map((r) => r.name).sort();
    } finally {
      db.close();
    }
  }
  const parsed = new URL(url);
  const schema = parsed.searchParams.get("schema");
  parsed.searchParams.delete("schema");
  const client = new pg.Client({ connectionString: parsed.toString() });
  await client.connect();
  try {
    const { rows } = await client.query(
      "SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 AND indexname NOT LIKE '%_key' AND indexname NOT LIKE '%_pkey'",
      [schema, table],
    );
    return rows.map((r) => r.indexname as string).sort();
  } finally {
    await client.end();
  }
}

it("keeps only the item indexes a query uses: no index on lease expiry (migration 021)", async () => {
  const store = await openStore(url);
  await store.close();
  // items_runnable went in 019, items_leased in 021: the claim, the status pages, the reaper and
  // the recovery of dead owners' items all search items_by_status (batch_id, status, seq).
  expect(await indexesOf("batch_items")).toEqual(["items_by_status"]);
  // The reaper reaches the open batches through their status (batches_open or batches_status).
  expect(await indexesOf("batches")).toEqual(expect.arrayContaining(["batches_open", "batches_status"]));
});
