/**
 * SharedSignals over PostgreSQL LISTEN/NOTIFY between two "nodes" (two stores, two notifiers on
 * one schema): work and batch changes cross, local listeners fire once, a node ignores its own
 * messages, and a lost LISTEN connection comes back.
 */
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { SharedSignals } from "../../src/engine/shared-signals.js";
import type { BatchChange } from "../../src/engine/signals.js";
import { openStore, type Store } from "../../src/store/index.js";
import { dropSchema } from "../../src/store/postgres/admin.js";
import { freshPostgresUrl, testDatabaseUrl, waitFor } from "../helpers/server.js";

const db = freshPostgresUrl();
const stores: Store[] = [];
const signals: SharedSignals[] = [];

async function node(): Promise<SharedSignals> {
  const store = await openStore(db);
  stores.push(store);
  const notifier = await store.openBroadcast();
  if (!notifier) throw new Error("no notifier on PostgreSQL");
  const s = new SharedSignals(notifier);
  signals.push(s);
  return s;
}

let a: SharedSignals;
let b: SharedSignals;
beforeAll(async () => {
  a = await node();
  b = await node();
});

afterAll(async () => {
  for (const s of signals) await s.close();
  for (const s of stores) await s.close();
  await dropSchema(db);
});

it("carries work and batch changes to the other node, once to local listeners", async () => {
  const seenA: BatchChange[] = [];
  const seenB: BatchChange[] = [];
  let workB = 0;
  a.onBatchChanged((c) => seenA.push(c));
  b.onBatchChanged((c) => seenB.push(c));
  b.onWork(() => workB++);

  a.notifyWork();
  await waitFor(() => workB > 0, { timeoutMs: 5000, what: "work on node b" });

  const transition = {
    batchId: "batch_1",
    workspaceId: "ws",
    from: "in_progress",
    to: "cancelling",
  } as const;
  a.notifyBatchChanged({ batchIds: ["batch_1"], transitions: [transition] });
  expect(seenA).toHaveLength(1); // local listeners fire at once
  await waitFor(() => seenB.length > 0, { timeoutMs: 5000, what: "the change on node b" });
  expect(seenB[0]).toEqual({ batchIds: ["batch_1"], transitions: [transition] });

  // b's message reaches a after a's own would have (one connection delivers in commit order).
  b.notifyBatchChanged({ batchIds: ["batch_2"], transitions: [] });
  await waitFor(() => seenA.some((c) => c.batchIds.includes("batch_2")), {
    timeoutMs: 5000,
    what: "b's change on a",
  });
  expect(seenA.map((c) => c.batchIds)).toEqual([["batch_1"], ["batch_2"]]);
});

it("says so when every change of a message queued no webhook delivery (a claim's)", async () => {
  const seen: BatchChange[] = [];
  const off = b.onBatchChanged((c) => seen.push(c));
  a.notifyBatchChanged({ batchIds: ["batch_claimed"], transitions: [], noDeliveries: true });
  await waitFor(() => seen.some((c) => c.batchIds.includes("batch_claimed")), {
    timeoutMs: 5000,
    what: "the claim's change on node b",
  });
  expect(seen.at(-1)).toEqual({ batchIds: ["batch_claimed"], transitions: [], noDeliveries: true });

  // Coalesced with a change that may have queued one: the message may have.
  a.notifyBatchChanged({ batchIds: ["batch_c2"], transitions: [], noDeliveries: true });
  a.notifyBatchChanged({ batchIds: ["batch_c3"], transitions: [] });
  await waitFor(() => seen.some((c) => c.batchIds.includes("batch_c3")), {
    timeoutMs: 5000,
    what: "the mixed changes on node b",
  });
  expect(seen.at(-1)).toEqual({ batchIds: ["batch_c2", "batch_c3"], transitions: [] });
  off();
});

it("splits a change too large for one NOTIFY", async () => {
  const ids = Array.from(
    { length: 600 },
    (_, i) => `batch-${i.toString().padStart(4, "0")}-${"x".repeat(20)}`,
  );
  const got = new Set<string>();
  const off = b.onBatchChanged((c) => {
    for (const id of c.batchIds) got.add(id);
  });
  a.notifyBatchChanged({ batchIds: ids, transitions: [] });
  await waitFor(() => got.size === ids.length, { timeoutMs: 5000, what: "every id on node b" });
  off();
});

it("listens again after its connection is killed", async () => {
  let workB = 0;
  b.onWork(() => workB++);
  const admin = new pg.Client({ connectionString: testDatabaseUrl() });
  await admin.connect();
  try {
    const schema = new URL(db).searchParams.get("schema");
    const killed = await admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1",
      [`LISTEN "agentbatch_${schema}"`],
    );
    expect(killed.rowCount).toBe(2);
  } finally {
    await admin.end();
  }
  const before = workB;
  // A reconnect wakes local workers (messages may have been lost); later messages arrive again.
  await waitFor(() => workB > before, { timeoutMs: 5000, what: "b to reconnect" });
  const after = workB;
  await waitFor(
    () => {
      a.notifyWork();
      return workB > after;
    },
    { timeoutMs: 5000, intervalMs: 100, what: "work to cross after the reconnect" },
  );
});
