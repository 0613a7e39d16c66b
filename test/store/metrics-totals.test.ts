/**
 * Store conformance: /metrics reads finished batches from running totals (migration 017), not by
 * summing the whole `batches` table, and the totals stay exact through finishing, cancelling,
 * retrying a finished batch's failed items and expiry (SQLite and PostgreSQL).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isPostgresUrl, openStore, type Store } from "../../src/store/index.js";
import { dropSchema } from "../../src/store/postgres/admin.js";
import { PostgresDriver } from "../../src/store/postgres/driver.js";
import type { SqlDriver } from "../../src/store/sql/driver.js";
import { SqliteDriver } from "../../src/store/sqlite/driver.js";
import type { Batch, ClaimedItem, ItemOutcome } from "../../src/store/types.js";
import { testDbUrl } from "../helpers/server.js";
import { createBatch, seedWorkspace } from "../helpers/store.js";

let dir: string;
let url: string;
let store: Store;
let raw: SqlDriver;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "agentbatch-metrics-"));
  url = testDbUrl(dir);
  store = await openStore(url);
  raw = isPostgresUrl(url) ? new PostgresDriver(url, 1) : new SqliteDriver(url.slice("sqlite:".length));
});
afterEach(async () => {
  await raw.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  if (isPostgresUrl(url)) await dropSchema(url);
});

const failed = (c: ClaimedItem): ItemOutcome => ({
  kind: "failed",
  itemId: c.id,
  batchId: c.batchId,
  leaseOwner: "w",
  attempt: c.attempt,
  errorCode: 500,
  errorMessage: "x",
});

/** The snapshot as the whole table says it: what the running totals must equal. */
function expected(batches: Batch[]) {
  const items = { pending: 0, processing: 0, awaiting_tool_calls: 0, success: 0, failed: 0 };
  const byStatus: Record<string, number> = {};
  for (const b of batches) {
    items.pending += b.pending;
    items.processing += b.processing;
    items.awaiting_tool_calls += b.awaiting;
    items.success += b.succeeded;
    items.failed += b.failed;
    byStatus[b.status] = (byStatus[b.status] ?? 0) + 1;
  }
  return { items, byStatus };
}

async function expectExact(workspaceId: string, ids: string[]) {
  const batches = await Promise.all(
    ids.map(async (id) => (await store.batches.get(workspaceId, id)) as Batch),
  );
  const want = expected(batches);
  const snap = await store.metrics.snapshot();
  expect(snap.items).toEqual(want.items);
  for (const [status, count] of Object.entries(snap.batches)) expect(count).toBe(want.byStatus[status] ?? 0);
  for (const [status, count] of Object.entries(want.byStatus))
    expect(snap.batches[status as Batch["status"]]).toBe(count);
}

describe("metrics totals", () => {
  it("stay exact through finishing, cancelling, retrying failed items and expiry", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const a = await createBatch(store, workspaceId, agentId, 2);
    const b = await createBatch(store, workspaceId, agentId, 3);
    const ids = [a.id, b.id];
    await expectExact(workspaceId, ids);
    const claimed = await store.items.claim("w", 10, 60_000, Date.now());
    const ofA = claimed.filter((c) => c.batchId === a.id);
    await store.items.commit(ofA.map(failed), Date.now());
    await expectExact(workspaceId, ids);
    expect((await store.batches.get(workspaceId, a.id))?.status).toBe("completed");
    // A finished batch's failed items run again: it is out of the finished totals, then back.
    await store.batches.retryFailed(workspaceId, a.id, Date.now(), Date.now() + 60_000);
    await expectExact(workspaceId, ids);
    const again = await store.items.claim("w", 10, 60_000, Date.now());
    await store.items.commit(again.filter((c) => c.batchId === a.id).map(failed), Date.now());
    await expectExact(workspaceId, ids);
    // Cancelled while items run: cancelling, then cancelled once they come back.
    await store.batches.cancel(workspaceId, b.id, Date.now());
    await expectExact(workspaceId, ids);
    await store.items.commit(claimed.filter((c) => c.batchId === b.id).map(failed), Date.now());
    await expectExact(workspaceId, ids);
    const c = await createBatch(store, workspaceId, agentId, 2);
    ids.push(c.id);
    await store.batches.expire(Date.now() + 365 * 86_400_000);
    await expectExact(workspaceId, ids);
  });

  it("does not read finished batches again: their counts come from the running totals", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const a = await createBatch(store, workspaceId, agentId, 2);
    const claimed = await store.items.claim("w", 10, 60_000, Date.now());
    await store.items.commit(claimed.map(failed), Date.now());
    const before = await store.metrics.snapshot();
    expect(before.items.failed).toBe(2);
    expect(before.batches.completed).toBe(1);
    // Rewritten behind the store's back: a snapshot that summed the table would see it.
    await raw.run("UPDATE batches SET failed = 1000 WHERE id = ?", [a.id]);
    const after = await store.metrics.snapshot();
    expect(after.items.failed).toBe(2);
  });
});
