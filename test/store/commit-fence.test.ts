/**
 * Store conformance: a group commit in which some outcomes do not apply (another attempt of the
 * item, the same outcome twice, a lost lease). The items' UPDATE returns no rows: when it writes
 * fewer than it was given, the written ones are read back, and only their chats, messages and
 * message files are written and counted. Runs against SQLite and PostgreSQL alike.
 */
import { describe, expect, it } from "vitest";
import type { Store } from "../../src/store/index.js";
import type { ItemOutcome } from "../../src/store/types.js";
import { expectCountersExact, successOutcome } from "../helpers/outcomes.js";
import { fileRecord, item, newBatch, seedWorkspace, useTestStore } from "../helpers/store.js";

const LEASE = 60_000;
let store: Store;
useTestStore((s) => (store = s));

/** A batch of `count` items, each attached `files(i)` (file ids), created through the ingest path. */
async function batchWithFiles(
  workspaceId: string,
  agentId: string,
  count: number,
  files: (i: number) => string[],
) {
  const result = await store.batches.ingest(
    newBatch(workspaceId, agentId),
    async function* () {
      for (let i = 0; i < count; i++)
        yield { row: i + 1, item: item(agentId, `c${i}`, { attachedFileUuids: files(i) }) };
    },
    { onInvalidRows: "fail", maxReportedErrors: 10 },
  );
  if (result.kind !== "created") throw new Error(`ingest: ${result.kind}`);
  return result.batch;
}

/** The chats of the workspace opened by batch items (one per applied success). */
async function chatCount(workspaceId: string): Promise<number> {
  const page = await store.chats.list(workspaceId, { limit: 1000, offset: 0, orderBy: "created_at" });
  return page.total;
}

describe("a group commit with outcomes that do not apply", () => {
  it("applies one of two outcomes of the same item: the other attempt's, and the same one twice", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const batch = await batchWithFiles(workspaceId, agentId, 2, () => []);
    const [a, b] = await store.items.claim("w", 2, LEASE, Date.now());
    const report = await store.items.commit(
      [
        { ...successOutcome(a, "w"), attempt: a.attempt + 1 } as ItemOutcome,
        successOutcome(a, "w"),
        successOutcome(b, "w"),
        successOutcome(b, "w"),
      ],
      Date.now(),
    );
    expect(report.applied).toBe(2);
    expect(await store.batches.get(workspaceId, batch.id)).toMatchObject({ succeeded: 2, promptTokens: 6 });
    expect(await chatCount(workspaceId)).toBe(2);
    for (const c of [a, b]) {
      const stored = await store.items.getByCustomId(batch.id, c.customId);
      const messages = await store.chats.listMessages(stored?.chatId as number);
      expect(messages.map((m) => m.role)).toEqual(["user", "assistant"]);
      expect(stored?.conversationId).toBe(messages[0].id);
    }
    await expectCountersExact(store, batch.id, workspaceId);
  });

  it("writes the attached files of the written items only, also past a fenced-off one", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    for (const id of ["f1", "f3", "shared"]) await store.files.create(fileRecord(id, workspaceId));
    const batch = await batchWithFiles(workspaceId, agentId, 4, (i) => (i % 2 ? [`f${i}`, "shared"] : []));
    const claimed = await store.items.claim("w1", 4, LEASE, Date.now());
    // c1 lost its lease (another owner's outcome); c3 and c0, c2 (no files) are written.
    const report = await store.items.commit(
      claimed.map((c) => successOutcome(c, c.customId === "c1" ? "w2" : "w1")),
      Date.now(),
    );
    expect(report).toMatchObject({ applied: 3, discarded: 1 });
    const lost = await store.items.getByCustomId(batch.id, "c1");
    expect(lost).toMatchObject({ status: "processing", conversationId: null });
    const written = await store.items.getByCustomId(batch.id, "c3");
    const files = await store.chats.listMessageFiles([written?.conversationId as number]);
    expect(files.map((f) => f.file.id)).toEqual(["f3", "shared"]);
    for (const id of ["c0", "c2"]) {
      const plain = await store.items.getByCustomId(batch.id, id);
      expect(await store.chats.listMessageFiles([plain?.conversationId as number])).toEqual([]);
    }
    await expectCountersExact(store, batch.id, workspaceId);
  });

  it("writes a group of 1,201 with one fenced off late (SQLite: past its 100-row statements; PostgreSQL: one statement)", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const count = 1_201;
    const batch = await batchWithFiles(workspaceId, agentId, count, () => []);
    const claimed = await store.items.claim("w1", count, LEASE, Date.now());
    expect(claimed).toHaveLength(count);
    // One fenced off past SQLite's first statements' rows; in PostgreSQL's one statement, near its end.
    const lostId = claimed[1_100].customId;
    const report = await store.items.commit(
      claimed.map((c) => successOutcome(c, c.customId === lostId ? "w2" : "w1")),
      Date.now(),
    );
    expect(report).toMatchObject({ applied: count - 1, discarded: 1 });
    expect(await chatCount(workspaceId)).toBe(count - 1);
    for (const c of [claimed[0], claimed[999], claimed[1_000], claimed[1_200]]) {
      const stored = await store.items.getByCustomId(batch.id, c.customId);
      expect(stored?.status).toBe("success");
      const messages = await store.chats.listMessages(stored?.chatId as number);
      expect(messages.map((m) => m.role)).toEqual(["user", "assistant"]);
      expect(stored?.conversationId).toBe(messages[0].id);
    }
    expect(await store.items.getByCustomId(batch.id, lostId)).toMatchObject({ status: "processing" });
    await expectCountersExact(store, batch.id, workspaceId);
  });
});
