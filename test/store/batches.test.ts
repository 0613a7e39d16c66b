/** Store conformance: creating batches and the state changes clients ask for (SQLite and PostgreSQL). */
import { describe, expect, it } from "vitest";
import type { Store } from "../../src/store/index.js";
import type { IngestEntry, IngestProgress, IngestRow, NewBatchItem } from "../../src/store/types.js";
import { testStore } from "../helpers/server.js";
import { createBatch, item, newBatch, seedWorkspace, useTestStore } from "../helpers/store.js";

let store: Store;
useTestStore((s) => (store = s));

function rows(entries: IngestEntry[]) {
  return async function* () {
    yield* entries;
  };
}

describe("ingest", () => {
  it("stores every row as a pending item, or reports duplicate custom_ids as row errors in skip mode", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const result = await store.batches.ingest(
      newBatch(workspaceId, agentId),
      rows([
        { row: 1, item: item(agentId, "a") },
        { row: 2, error: "message is required" },
        { row: 3, item: item(agentId, "a") },
        { row: 4, item: item(agentId, "b") },
      ]),
      { onInvalidRows: "skip", maxReportedErrors: 10 },
    );
    expect(result.kind).toBe("created");
    if (result.kind !== "created") return;
    expect(result.batch).toMatchObject({ status: "in_progress", total: 2, pending: 2 });
    expect(result.batch.validationErrors).toEqual([
      { row: 2, error: "message is required" },
      { row: 3, error: expect.stringContaining('custom_id: "a" is used by an earlier row') },
    ]);
  });

  it("reports a custom_id repeated in a later insert group (past 1,000 rows) as a row error", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const entries: IngestEntry[] = Array.from({ length: 1200 }, (_, i) => ({
      row: i + 1,
      item: item(agentId, i === 1100 ? "c-0" : `c-${i}`),
    }));
    const result = await store.batches.ingest(newBatch(workspaceId, agentId), rows(entries), {
      onInvalidRows: "skip",
      maxReportedErrors: 10,
    });
    if (result.kind !== "created") throw new Error(result.kind);
    expect(result.batch).toMatchObject({ status: "in_progress", total: 1199, pending: 1199 });
    expect(result.batch.validationErrors).toEqual([
      { row: 1101, error: expect.stringContaining('custom_id: "c-0" is used by an earlier row') },
    ]);
  });

  it("takes custom_ids that differ only in lone surrogates without failing the ingest (a row error where stored alike)", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    // A driver may store a lone surrogate as U+FFFD (node-pg does; better-sqlite3 does on Node 24,
    // not on Node 20): two JS strings, then one stored custom_id, a repeat. Either way the ingest
    // is not failed: a repeat is a row error, and ids stored apart are two items.
    const result = await store.batches.ingest(
      newBatch(workspaceId, agentId),
      rows([
        { row: 1, item: item(agentId, "x\ud800") },
        { row: 2, item: item(agentId, "x\udc00") },
        { row: 3, item: item(agentId, "y") },
      ]),
      { onInvalidRows: "skip", maxReportedErrors: 10 },
    );
    if (result.kind !== "created") throw new Error(result.kind);
    const errors = result.batch.validationErrors ?? [];
    if (testStore === "postgres") expect(errors).toHaveLength(1);
    expect(errors).toEqual(
      errors.length === 0 ? [] : [{ row: 2, error: expect.stringContaining("is used by an earlier row") }],
    );
    expect(result.batch).toMatchObject({ status: "in_progress", total: 3 - errors.length });
  });

  it("stores every column as given, characters an array literal quotes and empty values included", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const tricky = ['say "hi" \\ {a,b} NULL', "", "NULL", "line\nbreak, tab\t", "ünïcødé 😀", "{}", '\\"'];
    const given = tricky.map((text, i) =>
      item(agentId, `${text}-${i}`, {
        agentVersion: i + 1,
        message: text,
        externalUserId: i % 2 ? text : null,
        name: i % 3 ? null : text,
        attachedFileUuids: i % 2 ? [text, "f2"] : [],
        historyId: i % 2 ? 2 ** 40 + i : null,
        context: i % 2 ? { k: text } : null,
        metadata: i % 3 ? null : { m: [text, 1] },
      }),
    );
    const result = await store.batches.ingest(
      newBatch(workspaceId, agentId),
      rows(given.map((it, i) => ({ row: i + 1, item: it }))),
      { onInvalidRows: "fail", maxReportedErrors: 10 },
    );
    if (result.kind !== "created") throw new Error(result.kind);
    expect(result.batch).toMatchObject({ status: "in_progress", total: given.length });
    const stored = (await store.items.list(result.batch.id, { limit: 100, offset: 0 })).rows;
    expect(stored.map((r) => r.seq)).toEqual(given.map((_, i) => i));
    // The columns an item is given, as read back (NULL and absent read alike).
    const columns = (it: Omit<NewBatchItem, "agentId">) => ({
      customId: it.customId,
      agentVersion: it.agentVersion,
      message: it.message,
      externalUserId: it.externalUserId,
      name: it.name,
      attachedFileUuids: it.attachedFileUuids,
      historyId: it.historyId,
      context: it.context ?? null,
      metadata: it.metadata ?? null,
    });
    expect(stored.map(columns)).toEqual(given.map(columns));
  });

  it("fails the whole batch in fail mode and stores no item", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const result = await store.batches.ingest(
      newBatch(workspaceId, agentId),
      rows([
        { row: 1, item: item(agentId, "a") },
        { row: 2, error: "bad" },
      ]),
      { onInvalidRows: "fail", maxReportedErrors: 10 },
    );
    if (result.kind !== "created") throw new Error(result.kind);
    expect(result.batch).toMatchObject({ status: "failed", total: 0, errorMessage: "1 validation error(s)" });
    expect((await store.items.list(result.batch.id, { limit: 10, offset: 0 })).rows).toEqual([]);
  });

  it("answers an empty source, a repeated id, a taken id and a repeated idempotency key", async () => {
    const a = await seedWorkspace(store, "a");
    const b = await seedWorkspace(store, "b");
    const opts = { onInvalidRows: "fail" as const, maxReportedErrors: 10 };
    expect((await store.batches.ingest(newBatch(a.workspaceId, a.agentId), rows([]), opts)).kind).toBe(
      "empty",
    );
    const first = newBatch(a.workspaceId, a.agentId, { id: "client-id", requestHash: "h1" });
    const one = [{ row: 1, item: item(a.agentId, "x") }];
    expect((await store.batches.ingest(first, rows(one), opts)).kind).toBe("created");
    expect(await store.batches.ingest({ ...first, requestHash: "h1" }, rows(one), opts)).toMatchObject({
      kind: "existing",
      sameRequest: true,
      by: "id",
    });
    expect(await store.batches.ingest({ ...first, requestHash: "h2" }, rows(one), opts)).toMatchObject({
      kind: "existing",
      sameRequest: false,
    });
    const other = newBatch(b.workspaceId, b.agentId, { id: "client-id" });
    expect((await store.batches.ingest(other, rows(one), opts)).kind).toBe("id_taken");
    const keyed = { ...opts, idempotencyKey: "k" };
    const made = await store.batches.ingest(
      newBatch(a.workspaceId, a.agentId, { requestHash: "r" }),
      rows(one),
      keyed,
    );
    const again = await store.batches.ingest(
      newBatch(a.workspaceId, a.agentId, { requestHash: "r" }),
      rows(one),
      keyed,
    );
    if (made.kind !== "created") throw new Error(made.kind);
    expect(again).toMatchObject({
      kind: "existing",
      by: "idempotency_key",
      sameRequest: true,
      batch: { id: made.batch.id },
    });
  });
});

describe("state changes", () => {
  it("pauses a running batch, resumes a paused one, and refuses what the lifecycle forbids", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const batch = await createBatch(store, workspaceId, agentId, 2);
    const paused = await store.batches.pause(workspaceId, batch.id, 5);
    expect(paused).toMatchObject({ kind: "ok", changed: true, batch: { status: "paused", pausedAt: 5 } });
    expect(await store.batches.pause(workspaceId, batch.id, 6)).toMatchObject({ kind: "ok", changed: false });
    expect(await store.batches.resume(workspaceId, batch.id, 7)).toMatchObject({
      changed: true,
      batch: { status: "in_progress" },
    });
    expect((await store.batches.retryFailed(workspaceId, batch.id, 8, 9)).kind).toBe("conflict");
    expect((await store.batches.pause("other-ws", batch.id, 9)).kind).toBe("not_found");
  });

  it("cancels: pending items fail with 499 at once and the batch ends cancelled when nothing runs", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const batch = await createBatch(store, workspaceId, agentId, 3);
    const [running] = await store.items.claim("w", 1, 60_000, Date.now());
    const cancel = await store.batches.cancel(workspaceId, batch.id, Date.now());
    expect(cancel).toMatchObject({
      kind: "ok",
      changed: true,
      batch: { status: "cancelling", failed: 2, processing: 1 },
    });
    const report = await store.items.commit(
      [
        {
          kind: "failed",
          itemId: running.id,
          batchId: batch.id,
          leaseOwner: "w",
          attempt: 1,
          errorCode: 502,
          errorMessage: "x",
        },
      ],
      Date.now(),
    );
    expect(report.transitions.map((tr) => [tr.from, tr.to])).toEqual([["cancelling", "cancelled"]]);
    expect(await store.batches.cancel(workspaceId, batch.id, Date.now())).toMatchObject({
      kind: "ok",
      changed: false,
    });
    expect((await store.batches.pause(workspaceId, batch.id, Date.now())).kind).toBe("conflict");
  });

  it("retries only the failed items of an ended batch and extends its window", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const batch = await createBatch(store, workspaceId, agentId, 2);
    await store.batches.cancel(workspaceId, batch.id, Date.now());
    const far = Date.now() + 10 * 3_600_000;
    const retried = await store.batches.retryFailed(workspaceId, batch.id, Date.now(), far);
    expect(retried).toMatchObject({
      kind: "ok",
      batch: { status: "in_progress", pending: 2, failed: 0, expiresAt: far },
    });
    const claimed = await store.items.claim("w", 5, 60_000, Date.now());
    expect(claimed.map((c) => c.attempt)).toEqual([1, 1]);
  });

  it("expires pending items of a batch past its window with 408", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const batch = await createBatch(store, workspaceId, agentId, 2, { expiresAt: Date.now() + 1000 });
    expect((await store.batches.expire(Date.now())).applied).toBe(0);
    const report = await store.batches.expire(Date.now() + 2000);
    expect(report).toMatchObject({ applied: 2, touchedBatchIds: [batch.id] });
    expect(report.transitions.map((tr) => tr.to)).toEqual(["completed"]);
    expect(await store.items.getByCustomId(batch.id, "c0")).toMatchObject({
      status: "failed",
      errorCode: 408,
    });
  });

  it("lists a workspace's batches newest first, filtered by status", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const older = await createBatch(store, workspaceId, agentId, 1, { createdAt: 1 });
    const newer = await createBatch(store, workspaceId, agentId, 1, { createdAt: 2 });
    await store.batches.pause(workspaceId, newer.id, 3);
    const all = await store.batches.list(workspaceId, { limit: 10, offset: 0 });
    expect(all.rows.map((b) => b.id)).toEqual([newer.id, older.id]);
    const paused = await store.batches.list(workspaceId, { limit: 10, offset: 0, statuses: ["paused"] });
    expect(paused).toMatchObject({ total: 1, rows: [{ id: newer.id }] });
  });
});

describe("background ingest", () => {
  const chunk = (agentId: string, ids: string[], from = 0) =>
    ids.map((id, i) => ({ seq: from + i, item: item(agentId, id) }));

  const progress = (lastRow: number): IngestProgress => ({
    columnMapping: null,
    onInvalidRows: "fail",
    lastRow,
    nextSeq: lastRow,
    rows: lastRow,
    errorCount: 0,
    errors: [],
  });
  const owned = { owner: "p1", progress: progress(0) };
  /** A chunk stored by `owner`, its progress saying every row up to the chunk's last is in. */
  const put = (id: string, rows: IngestRow[], now: number, owner = "p1") =>
    store.batches.ingestChunk(id, rows, now, owner, () => progress((rows.at(-1)?.seq ?? 0) + 1));

  it("stores chunks of a validating batch that nothing claims, then makes them runnable in one step", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const begun = await store.batches.beginIngest(newBatch(workspaceId, agentId), undefined, 1000, owned);
    if (begun.kind !== "created") throw new Error(begun.kind);
    expect(begun.batch).toMatchObject({ status: "validating", total: 0 });
    const id = begun.batch.id;
    expect(await put(id, chunk(agentId, ["a", "b"]), 1001)).toEqual(new Set([0, 1]));
    // A custom_id of an earlier chunk is skipped.
    expect(await put(id, chunk(agentId, ["a", "c"], 2), 1002)).toEqual(new Set([3]));
    expect(await store.items.claim("w", 10, 60_000, Date.now())).toEqual([]);
    expect(await store.batches.activeRows(workspaceId)).toBe(3);
    const errors = [{ row: 3, error: "dup" }];
    const ready = await store.batches.finishIngest(id, { kind: "ready", errors }, 1003);
    expect(ready).toMatchObject({ status: "in_progress", total: 3, pending: 3, validationErrors: errors });
    const claimed = await store.items.claim("w", 10, 60_000, Date.now());
    expect(claimed.map((c) => c.customId).sort()).toEqual(["a", "b", "c"]);
    // Finished once: a second finish changes nothing.
    expect(await store.batches.finishIngest(id, { kind: "ready", errors: [] }, 1004)).toBeUndefined();
  });

  it("a failed ingest keeps no item", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const one = await store.batches.beginIngest(newBatch(workspaceId, agentId), undefined, 1000, owned);
    if (one.kind !== "created") throw new Error(one.kind);
    await put(one.batch.id, chunk(agentId, ["a", "b"]), 1000);
    const failed = await store.batches.finishIngest(
      one.batch.id,
      { kind: "failed", message: "1 validation error(s)", errors: [{ row: 2, error: "bad" }] },
      1001,
    );
    expect(failed).toMatchObject({ status: "failed", total: 0, errorMessage: "1 validation error(s)" });
    expect((await store.items.list(one.batch.id, { limit: 10, offset: 0 })).rows).toEqual([]);
  });

  it("a stale ingest is taken over by one process, which reads on where it stood", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const stale = await store.batches.beginIngest(newBatch(workspaceId, agentId), undefined, 1000, owned);
    const fresh = await store.batches.beginIngest(newBatch(workspaceId, agentId), undefined, 5000, owned);
    const legacy = await store.batches.beginIngest(newBatch(workspaceId, agentId), undefined, 1000);
    if (stale.kind !== "created" || fresh.kind !== "created" || legacy.kind !== "created")
      throw new Error("not created");
    await put(stale.batch.id, chunk(agentId, ["x"]), 1500);
    const taken = await store.batches.takeStaleIngests(2000, "p2", 6000);
    expect(taken.map((t) => t.batch.id).sort()).toEqual([stale.batch.id, legacy.batch.id].sort());
    const resumed = taken.find((t) => t.batch.id === stale.batch.id);
    expect(resumed).toMatchObject({ batch: { status: "validating", total: 1 }, progress: progress(1) });
    // Begun before ingests were resumable: nothing says where it stood.
    expect(taken.find((t) => t.batch.id === legacy.batch.id)?.progress).toBeNull();
    // Taken once: another sweep at the same time finds nothing stale.
    expect(await store.batches.takeStaleIngests(2000, "p3", 6000)).toEqual([]);
    // The old owner is refused; the new one stores and finishes.
    expect(await put(stale.batch.id, chunk(agentId, ["y"], 1), 6001)).toBeNull();
    expect(await put(stale.batch.id, chunk(agentId, ["y"], 1), 6001, "p2")).toEqual(new Set([1]));
    const done = { kind: "ready" as const, errors: [] };
    expect(await store.batches.finishIngest(stale.batch.id, done, 6002, "p1")).toBeUndefined();
    expect(await store.batches.finishIngest(stale.batch.id, done, 6002, "p2")).toMatchObject({
      status: "in_progress",
      total: 2,
    });
    expect((await store.batches.get(workspaceId, fresh.batch.id))?.status).toBe("validating");
    // A stopping process hands its ingest back: the next sweep takes it at once.
    await store.batches.releaseIngest(fresh.batch.id, "p1");
    expect(await store.batches.touchIngest(fresh.batch.id, "p2", 7000)).toBe(false);
    const handedBack = await store.batches.takeStaleIngests(5999, "p2", 7000);
    expect(handedBack.map((t) => t.batch.id)).toEqual([fresh.batch.id]);
    expect(await store.batches.touchIngest(fresh.batch.id, "p2", 7001)).toBe(true);
  });

  it("cancels a validating batch: no item kept, the ingest's next chunk refused", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const begun = await store.batches.beginIngest(newBatch(workspaceId, agentId), undefined, 1000, owned);
    if (begun.kind !== "created") throw new Error(begun.kind);
    await put(begun.batch.id, chunk(agentId, ["a", "b"]), 1001);
    const result = await store.batches.cancel(workspaceId, begun.batch.id, 1002);
    expect(result).toMatchObject({
      kind: "ok",
      changed: true,
      batch: { status: "cancelled", total: 0 },
      transitions: [{ from: "validating", to: "cancelled" }],
    });
    expect((await store.items.list(begun.batch.id, { limit: 10, offset: 0 })).rows).toEqual([]);
    expect(await put(begun.batch.id, chunk(agentId, ["c"], 2), 1003)).toBeNull();
    expect(
      await store.batches.finishIngest(begun.batch.id, { kind: "ready", errors: [] }, 1004),
    ).toBeUndefined();
  });

  it("answers a repeated idempotency key with the validating batch", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const b = newBatch(workspaceId, agentId, { requestHash: "h" });
    const first = await store.batches.beginIngest(b, "key-1", 1000);
    expect(first.kind).toBe("created");
    const again = await store.batches.beginIngest(
      { ...newBatch(workspaceId, agentId), requestHash: "h" },
      "key-1",
      1001,
    );
    expect(again).toMatchObject({ kind: "existing", sameRequest: true, by: "idempotency_key" });
  });
});
