/** Store conformance: the webhook outbox, API-shaped batches, workers and metrics (SQLite and PostgreSQL). */
import { describe, expect, it } from "vitest";
import type { Store } from "../../src/store/index.js";
import { waitFor } from "../helpers/server.js";
import { createBatch, item, newBatch, seedWorkspace, useTestStore } from "../helpers/store.js";

let store: Store;
useTestStore((s) => (store = s));

describe("webhook outbox", () => {
  it("queues the batch event in the transaction that ends the batch; claims are leased and fenced", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const webhook = { url: "https://example.com/hook", events: ["completed", "cancelled"], secret: "s" };
    const batch = await createBatch(store, workspaceId, agentId, 1, { webhook });
    await store.batches.cancel(workspaceId, batch.id, 10);
    const [delivery] = await store.outbox.claimDue("d1", 10, 30_000, Date.now());
    expect(delivery).toMatchObject({ event: "batch.cancelled", attempts: 1, url: webhook.url });
    expect(JSON.parse(delivery.payload)).toMatchObject({ event: "batch.cancelled", data: { id: batch.id } });
    expect(await store.outbox.claimDue("d2", 10, 30_000, Date.now())).toHaveLength(0);
    const result = { kind: "retry", nextAttemptAt: 0, statusCode: 500, error: "HTTP 500" } as const;
    expect(await store.outbox.recordAttempt(delivery.id, "d2", 1, result, Date.now())).toBe(false);
    expect(await store.outbox.recordAttempt(delivery.id, "d1", 1, result, Date.now())).toBe(true);
    expect(await store.outbox.nextDueAt()).toBe(0);
    const [again] = await store.outbox.claimDue("d1", 10, 30_000, Date.now());
    await store.outbox.recordAttempt(again.id, "d1", 2, { kind: "delivered", statusCode: 200 }, Date.now());
    const listed = await store.outbox.list(batch.id, { limit: 10, offset: 0 });
    expect(listed.rows.map((d) => [d.status, d.attempts, d.lastStatusCode])).toEqual([["delivered", 2, 200]]);
    expect(await store.outbox.redeliver(batch.id, delivery.id, Date.now())).toMatchObject({
      status: "pending",
      attempts: 0,
    });
  });
});

describe("fair webhook claims", () => {
  /** Cancels `n` new batches of the workspace whose webhook is `url`: one due delivery each. */
  async function deliveries(ws: { workspaceId: string; agentId: string }, url: string, n: number) {
    const webhook = { url, events: ["cancelled"], secret: null };
    for (let i = 0; i < n; i++) {
      const batch = await createBatch(store, ws.workspaceId, ws.agentId, 1, { webhook });
      await store.batches.cancel(ws.workspaceId, batch.id, 10);
    }
  }

  it("takes round-robin across workspace and host, at most perTarget per group, none for skipped hosts", async () => {
    const a = await seedWorkspace(store, "a");
    const b = await seedWorkspace(store, "b");
    await deliveries(a, "https://Hang.example/hook", 6);
    await deliveries(b, "https://ok.example:8443/b", 1);
    const fair = { perTarget: 2, skipHosts: [] };
    const first = await store.outbox.claimDue("d", 3, 30_000, Date.now(), fair);
    expect(first.map((d) => d.targetHost).sort()).toEqual([
      "hang.example",
      "hang.example",
      "ok.example:8443",
    ]);
    // The hanging host is at its cap: nothing more of it, and nothing due but it.
    const skip = { perTarget: 2, skipHosts: ["hang.example"] };
    expect(await store.outbox.claimDue("d", 10, 30_000, Date.now(), skip)).toEqual([]);
    // Leased rows are due again only when their lease ends; the hanging host's backlog is due now.
    expect(await store.outbox.nextDueAt(["hang.example"])).toBeGreaterThan(Date.now());
    expect(await store.outbox.nextDueAt()).toBeLessThanOrEqual(Date.now());
    await deliveries(b, "https://ok.example:8443/b", 1);
    const next = await store.outbox.claimDue("d", 10, 30_000, Date.now(), skip);
    expect(next.map((d) => [d.workspaceId, d.targetHost])).toEqual([[b.workspaceId, "ok.example:8443"]]);
  });
});

describe("API-shaped batches", () => {
  it("creates a batch of requests, pages the shape's list, and finalizes once", async () => {
    const ws = await store.workspaces.ensure("ws");
    const created = [];
    for (let i = 0; i < 3; i++) {
      const b = newBatch(ws.id, "openai-shape", { id: `batch_${i}`, createdAt: i });
      created.push(
        await store.apiBatches.create(
          b,
          {
            shape: "openai",
            endpoint: "/v1/chat/completions",
            inputFileId: "file-1",
            completionWindow: "24h",
            lineErrors: [],
          },
          1,
          [[item("openai-shape", `line-${i}`)]],
          i,
        ),
      );
    }
    expect(created[0]).toMatchObject({
      batch: { status: "in_progress", total: 1, inputFileId: "file-1" },
      api: { shape: "openai" },
    });
    const first = await store.apiBatches.list(ws.id, "openai", { limit: 2 });
    expect(first.rows.map((r) => r.batch.id)).toEqual(["batch_2", "batch_1"]);
    expect(first.hasMore).toBe(true);
    const next = await store.apiBatches.list(ws.id, "openai", { limit: 2, afterId: "batch_1" });
    expect(next).toMatchObject({ hasMore: false, rows: [{ batch: { id: "batch_0" } }] });
    expect(await store.apiBatches.get(ws.id, "batch_0", "anthropic")).toBeUndefined();
    await store.batches.cancel(ws.id, "batch_0", 5);
    const taken = await store.apiBatches.claimFinalization("writer", Date.now(), 60_000, 10);
    expect(taken.map((a) => a.batch.id)).toEqual(["batch_0"]);
    expect(await store.apiBatches.claimFinalization("other", Date.now(), 60_000, 10)).toEqual([]);
    expect(
      await store.apiBatches.completeFinalization("batch_0", "writer", { output: null, error: null }, 6),
    ).toBe(true);
    expect((await store.apiBatches.get(ws.id, "batch_0", "openai"))?.api.finalizedAt).toBe(6);
    // Files that cannot be written: finalized without them, the reason kept as the batch's errors.
    await store.batches.cancel(ws.id, "batch_1", 7);
    expect(
      (await store.apiBatches.claimFinalization("writer", Date.now(), 60_000, 10)).map((a) => a.batch.id),
    ).toEqual(["batch_1"]);
    const error = { code: "output_write_failed", message: "ENOSPC", param: null, line: null };
    expect(await store.apiBatches.failFinalization("batch_1", "other", error, 8)).toBe(false);
    expect(await store.apiBatches.failFinalization("batch_1", "writer", error, 8)).toBe(true);
    expect(await store.apiBatches.failFinalization("batch_1", "writer", error, 9)).toBe(false);
    expect((await store.apiBatches.get(ws.id, "batch_1", "openai"))?.api).toMatchObject({
      finalizedAt: 8,
      lineErrors: [error],
      outputFileId: null,
    });
  });
});

describe("workers and metrics", () => {
  it("counts live workers by the database's clock and forgets stale and removed ones", async () => {
    const MINUTE = 60_000;
    const [a] = await store.workers.heartbeat("a", MINUTE);
    // The database's clock, in ms since the epoch (this host's here: one host runs the tests).
    expect(Math.abs(a.lastSeen - Date.now())).toBeLessThan(MINUTE);
    expect(a).toEqual({ id: "a", startedAt: a.lastSeen, lastSeen: a.lastSeen });
    const both = (await store.workers.heartbeat("b", MINUTE)).sort((x, y) => x.id.localeCompare(y.id));
    expect(both.map((w) => w.id)).toEqual(["a", "b"]);
    const b = both[1];
    expect(b.startedAt).toBe(b.lastSeen);
    expect(b.lastSeen).toBeGreaterThanOrEqual(a.lastSeen);
    // "a" ages past 1 s by the database's clock (no beat of its own): the next beat forgets it,
    // and the row of "b" keeps its start.
    await waitFor(async () => !(await store.workers.live(1000)).includes("a"), { what: "a to age" });
    const [b2, ...rest] = await store.workers.heartbeat("b", 1000);
    expect(rest).toEqual([]);
    expect(b2.id).toBe("b");
    expect(b2.startedAt).toBe(b.startedAt);
    expect(b2.lastSeen).toBeGreaterThan(b.lastSeen);
    await store.workers.remove("b");
    expect((await store.workers.heartbeat("c", MINUTE)).map((w) => w.id)).toEqual(["c"]);
    // A worker inserted again after it was forgotten keeps the start it gives.
    expect(await store.workers.heartbeat("b", MINUTE, 200)).toContainEqual(
      expect.objectContaining({ id: "b", startedAt: 200 }),
    );
    expect(await store.workers.heartbeat("b", MINUTE)).toContainEqual(
      expect.objectContaining({ id: "b", startedAt: 200 }),
    );
    // The row's write is reported once it has committed, before the beat resolves.
    const order: string[] = [];
    await store.workers
      .heartbeat("d", MINUTE, undefined, () => order.push("written"))
      .then(() => order.push("resolved"));
    expect(order).toEqual(["written", "resolved"]);
    await store.workers.remove("d");
    await store.workers.remove("b");
    expect(await store.workers.live(MINUTE)).toEqual(["c"]);
    // Seen within the last -1 min: none (every row is older than a minute from now).
    expect(await store.workers.live(-MINUTE)).toEqual([]);
    expect(await store.workers.runAsLeader("maintenance", async () => "ran")).toBe("ran");
  });

  it("reads item and batch totals from the counters", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    await createBatch(store, workspaceId, agentId, 3);
    await store.items.claim("w", 1, 60_000, Date.now());
    const snap = await store.metrics.snapshot();
    expect(snap).toMatchObject({
      items: { pending: 2, processing: 1, success: 0, failed: 0 },
      queueDepth: 2,
      batches: { in_progress: 1 },
    });
  });
});
