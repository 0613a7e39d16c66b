import pg from "pg";

/**
 * Drops the schema a `postgres://...?schema=NAME` URL names, with everything in it. Tests and
 * benches give each server its own schema and drop it when they are done.
 */
export async function dropSchema(url: string): Promise<void> {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get("schema");
  if (!schema) throw new Error(`dropSchema: no ?schema= in ${parsed.origin}`);
  if (!/^[a-z_][a-z0-9_]*$/i.test(schema)) throw new Error(`dropSchema: invalid schema name "${schema}"`);
  parsed.searchParams.delete("schema");
  const client = new pg.Client({ connectionString: parsed.toString() });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** Fails with a clear message when the database of `url` cannot be reached. */
export async function checkReachable(url: string): Promise<void> {
  const parsed = new URL(url);
  parsed.searchParams.delete("schema");
  const client = new pg.Client({ connectionString: parsed.toString(), connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${parsed.host}${parsed.pathname}: ${(err as Error).message}`,
    );
  } finally {
    await client.end().catch(() => {});
  }
}
