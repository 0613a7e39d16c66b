/**
 * The PostgreSQL claim is one statement that commits with `synchronous_commit = off`
 * (src/store/sql/items.ts): the setting is the claim's transaction's own, never the pooled
 * connection's, so the group commits after it on that connection still wait for their WAL flush.
 */
import { afterAll, expect, it } from "vitest";
import { openStore } from "../../src/store/index.js";
import { dropSchema } from "../../src/store/postgres/admin.js";
import { PostgresDriver } from "../../src/store/postgres/driver.js";
import { SqlItemQueue } from "../../src/store/sql/items.js";
import { freshPostgresUrl } from "../helpers/server.js";
import { createBatch, seedWorkspace } from "../helpers/store.js";

const db = freshPostgresUrl();

afterAll(async () => dropSchema(db));

it("claims over a one-connection pool and leaves that connection committing synchronously", async () => {
  const store = await openStore(db);
  const driver = new PostgresDriver(db, 1);
  try {
    const { workspaceId, agentId } = await seedWorkspace(store);
    await createBatch(store, workspaceId, agentId, 5);
    await createBatch(store, workspaceId, agentId, 5);
    const claimed = await new SqlItemQueue(driver).claim("w", 10, 60_000, Date.now());
    expect(claimed).toHaveLength(10);
    expect((await driver.get("SHOW synchronous_commit"))?.synchronous_commit).toBe("on");
  } finally {
    await driver.close();
    await store.close();
  }
});
