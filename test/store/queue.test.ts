/**
 * Store conformance: the item table as the queue. Runs against SQLite and PostgreSQL alike
 * (vitest.config.ts runs test/store in both projects).
 */
import { describe, expect, it } from "vitest";
import { responseUsage } from "../../src/domain/usage.js";
import type { Store } from "../../src/store/index.js";
import { RESULT_CELL } from "../../src/store/items.js";
import { idBucket } from "../../src/store/sql/claim-rows.js";
import { IN_CHUNK } from "../../src/store/sql/driver.js";
import type { ClaimedItem, ItemOutcome } from "../../src/store/types.js";
import { expectCountersExact as expectCounters, successOutcome } from "../helpers/outcomes.js";
import { createBatch, seedWorkspace, useTestStore } from "../helpers/store.js";

let store: Store;
useTestStore((s) => (store = s));

const LEASE = 60_000;

const success = successOutcome;
const expectCountersExact = (batchId: string, workspaceId: string) =>
  expectCounters(store, batchId, workspaceId);

describe("claims", () => {
  it("leases items to one owner, raises the attempt and moves the counters", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const batch = await createBatch(store, workspaceId, agentId, 5);
    const claimed = await store.items.claim("w1", 3, LEASE, Date.now());
    expect(claimed.map((c) => c.customId)).toEqual(["c0", "c1", "c2"]);
    expect(claimed.every((c) => c.attempt === 1 && c.workspaceId === workspaceId)).toBe(true);
    expect(await store.items.claim("w2", 10, LEASE, Date.now())).toHaveLength(2);
    expect(await store.items.claim("w3", 10, LEASE, Date.now())).toHaveLength(0);
    const b = await store.batches.get(workspaceId, batch.id);
    expect(b?.processing).toBe(5);
    expect(b?.startedAt).not.toBeNull();
    await expectCountersExact(batch.id, workspaceId);
  });

  it("splits a claim across workspaces, so a big batch does not starve a small one", async () => {
    const a = await seedWorkspace(store, "a");
    const b = await seedWorkspace(store, "b");
    await createBatch(store, a.workspaceId, a.agentId, 50);
    await createBatch(store, a.workspaceId, a.agentId, 50);
    await createBatch(store, b.workspaceId, b.agentId, 5);
    const claimed = await store.items.claim("w", 10, LEASE, Date.now());
    expect(claimed.filter((c) => c.workspaceId === b.workspaceId)).toHaveLength(5);
    expect(claimed).toHaveLength(10);
  });

  it("looks at most ten batches of a workspace, so a workspace with many older batches cannot hide another's", async () => {
    // 12 batches: every runnable batch is read in one ordered read and capped in the store;
    // 105: the first 100 are all of one workspace, so the capped read is the window query's.
    for (const many of [12, 105]) {
      const a = await seedWorkspace(store, `a${many}`);
      const b = await seedWorkspace(store, `b${many}`);
      // Distinct creation times: the late batch is the last in claim order, past the first 100.
      const base = Date.now();
      for (let i = 0; i < many; i++)
        await createBatch(store, a.workspaceId, a.agentId, 1, { createdAt: base - 1000 + i });
      const late = await createBatch(store, b.workspaceId, b.agentId, 1, { createdAt: base });
      const claimed = await store.items.claim("w", 20, LEASE, Date.now());
      expect(claimed.filter((c) => c.batchId === late.id)).toHaveLength(1);
      expect(claimed.filter((c) => c.workspaceId === a.workspaceId)).toHaveLength(10);
      await store.items.claim("w", 1000, LEASE, Date.now());
    }
  });

  it("moves the counters of every batch one claim takes items from", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const batches = [
      await createBatch(store, workspaceId, agentId, 40),
      await createBatch(store, workspaceId, agentId, 3),
      await createBatch(store, workspaceId, agentId, 40),
    ];
    const claimed = await store.items.claim("w", 70, LEASE, Date.now());
    expect(claimed).toHaveLength(70);
    expect(new Set(claimed.map((c) => c.batchId)).size).toBe(3);
    for (const b of batches) {
      await expectCountersExact(b.id, workspaceId);
      expect((await store.batches.get(workspaceId, b.id))?.startedAt).not.toBeNull();
    }
  });

  it("takes the first pending items of each batch a claim spans, each item once", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const batches = [
      await createBatch(store, workspaceId, agentId, 40),
      await createBatch(store, workspaceId, agentId, 40),
      await createBatch(store, workspaceId, agentId, 40),
    ];
    const claimed = await store.items.claim("w", 90, LEASE, Date.now());
    expect(claimed).toHaveLength(90);
    // From each batch its lowest seqs (the order of the returned items is not part of the contract).
    for (const b of batches) {
      const seqs = claimed
        .filter((c) => c.batchId === b.id)
        .map((c) => c.seq)
        .sort((x, y) => x - y);
      expect(seqs.length).toBeGreaterThan(0);
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i));
      await expectCountersExact(b.id, workspaceId);
    }
    const rest = await store.items.claim("w", 90, LEASE, Date.now());
    expect(rest).toHaveLength(30);
    expect(new Set([...claimed, ...rest].map((c) => c.id)).size).toBe(120);
  });

  it("hands no item out twice and keeps the counters exact under concurrent claims and commits", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const batches = await Promise.all([0, 1, 2].map(() => createBatch(store, workspaceId, agentId, 60)));
    const seen = new Set<number>();
    let stored = 0;
    // Eight workers claim small groups from the same three batches while committing the last.
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (;;) {
          const claimed = await store.items.claim(`w${w}`, 9, LEASE, Date.now());
          if (claimed.length === 0) return;
          for (const c of claimed) {
            expect(seen.has(c.id)).toBe(false);
            seen.add(c.id);
          }
          const report = await store.items.commit(
            claimed.map((c) => success(c, `w${w}`)),
            Date.now(),
          );
          stored += report.applied;
        }
      }),
    );
    expect(stored).toBe(180);
    for (const b of batches) {
      await expectCountersExact(b.id, workspaceId);
      expect((await store.batches.get(workspaceId, b.id))?.status).toBe("completed");
    }
  });

  it("takes nothing from a paused batch and nothing before an item's not_before, and says when nothing is runnable", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const batch = await createBatch(store, workspaceId, agentId, 2);
    await store.batches.pause(workspaceId, batch.id, Date.now());
    const seen = { runnable: true };
    expect(await store.items.claim("w", 10, LEASE, Date.now(), undefined, seen)).toHaveLength(0);
    expect(seen.runnable).toBe(false);
    await store.batches.resume(workspaceId, batch.id, Date.now());
    const [first] = await store.items.claim("w", 1, LEASE, Date.now());
    const retryAt = Date.now() + 60_000;
    const report = await store.items.commit(
      [
        {
          kind: "retry",
          itemId: first.id,
          batchId: batch.id,
          leaseOwner: "w",
          attempt: 1,
          notBefore: retryAt,
          errorCode: 502,
          errorMessage: "upstream",
        },
      ],
      Date.now(),
    );
    expect(report.applied).toBe(1);
    const now = await store.items.claim("w", 10, LEASE, Date.now());
    expect(now.map((c) => c.customId)).toEqual(["c1"]);
    // c0 waits for its not_before: the claim takes nothing, but its batch is runnable.
    expect(await store.items.claim("w", 10, LEASE, Date.now(), undefined, seen)).toHaveLength(0);
    expect(seen.runnable).toBe(true);
    const later = await store.items.claim("w", 10, LEASE, retryAt + 1, undefined, seen);
    expect(later.map((c) => [c.customId, c.attempt])).toEqual([["c0", 2]]);
    expect(await store.items.claim("w", 10, LEASE, retryAt + 1, undefined, seen)).toHaveLength(0);
    expect(seen.runnable).toBe(false);
  });
});

describe("the candidate batches of a claim when no work arrived since the previous one (sameWork)", () => {
  it("are the previous claim's, as it left them, until a batch gives less than asked", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const base = Date.now();
    const a = await createBatch(store, workspaceId, agentId, 4, { createdAt: base - 3000 });
    const b = await createBatch(store, workspaceId, agentId, 6, { createdAt: base - 2000 });
    const claim = async (sameWork: boolean) =>
      (await store.items.claim("w", 2, LEASE, Date.now(), undefined, { runnable: true, sameWork })).map(
        (c) => c.batchId,
      );
    expect(await claim(false)).toEqual([a.id, a.id]);
    // The batch claimed from goes last, as its stamp puts it in a fresh read.
    expect(await claim(true)).toEqual([b.id, b.id]);
    // A batch that appeared without its signal (older than both) is not among them...
    const c = await createBatch(store, workspaceId, agentId, 4, { createdAt: base - 9000 });
    expect(await claim(true)).toEqual([a.id, a.id]);
    // ...and is, once work has arrived (a fresh read, least recently claimed first).
    expect(await claim(false)).toEqual([c.id, c.id]);
    expect(await claim(true)).toEqual([b.id, b.id]);
    // A paused batch gives nothing: that claim gets less than it asked, and the next one reads
    // again (and finds the batch that appeared meanwhile without its signal).
    await store.batches.pause(workspaceId, c.id, Date.now());
    const d = await createBatch(store, workspaceId, agentId, 4, { createdAt: base - 9500 });
    expect(await claim(true)).toEqual([]);
    expect(await claim(true)).toEqual([d.id, d.id]);
    for (const batch of [a, b, c, d]) await expectCountersExact(batch.id, workspaceId);
  });
});

describe("the claim's UPDATE by id (padded on SQLite; PostgreSQL claims in one statement)", () => {
  it("binds its ids in a few buckets of counts, padded, and claims each item once", async () => {
    const buckets = new Set<number>();
    for (let count = 1; count <= IN_CHUNK; count++) {
      const bucket = idBucket(count);
      expect(bucket).toBeGreaterThanOrEqual(count);
      expect(bucket).toBeLessThanOrEqual(IN_CHUNK);
      buckets.add(bucket);
    }
    expect(buckets.size).toBeLessThanOrEqual(8);
    // 13 items: padded to 16 ids with the last one repeated; each claimed once, counters exact.
    const { workspaceId, agentId } = await seedWorkspace(store);
    const batch = await createBatch(store, workspaceId, agentId, 13);
    const claimed = await store.items.claim("w1", 13, LEASE, Date.now());
    expect(claimed).toHaveLength(13);
    expect(new Set(claimed.map((c) => c.id)).size).toBe(13);
    expect(claimed.every((c) => c.attempt === 1)).toBe(true);
    await expectCountersExact(batch.id, workspaceId);
  });
});

describe("group commit", () => {
  it("stores results with their chat turn, usage and cost, and completes the batch", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const batch = await createBatch(store, workspaceId, agentId, 3);
    const claimed = await store.items.claim("w", 10, LEASE, Date.now());
    const report = await store.items.commit(
      claimed.map((c) => success(c, "w")),
      Date.now(),
    );
    expect(report).toMatchObject({ applied: 3, discarded: 0, touchedBatchIds: [batch.id] });
    expect(report.transitions).toEqual([
      { batchId: batch.id, workspaceId, from: "in_progress", to: "completed" },
    ]);
    const b = await store.batches.get(workspaceId, batch.id);
    expect(b).toMatchObject({
      status: "completed",
      succeeded: 3,
      promptTokens: 9,
      completionTokens: 6,
      cost: 1.5,
    });
    const item = await store.items.getByCustomId(batch.id, "c1");
    expect(item).toMatchObject({ status: "success", responseContent: "answer c1" });
    const messages = await store.chats.listMessages(item?.chatId as number);
    expect(messages.map((m) => [m.role, m.content])).toEqual([
      ["user", "message c1"],
      ["assistant", "answer c1"],
    ]);
    expect(messages[1].meta).toMatchObject({ token_usage: { total_tokens: 5 }, batch_id: batch.id });
  });

  it("continues the chat an item names (two items the same one) and opens one with its name for the others", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const chat = await store.chats.create(
      { workspaceId, agentId, name: "earlier", externalUserId: "u1" },
      1_000,
    );
    const batch = await createBatch(store, workspaceId, agentId, 3);
    const [a, b, c] = await store.items.claim("w", 10, LEASE, Date.now());
    const now = Date.now();
    await store.items.commit(
      [
        success(a, "w", { historyId: chat.id }),
        success(b, "w", { historyId: chat.id }),
        success(c, "w", { chatName: "fresh", externalUserId: "u2" }),
      ],
      now,
    );
    expect(await store.chats.get(workspaceId, chat.id)).toMatchObject({ createdAt: 1_000, updatedAt: now });
    const continued = await store.chats.listMessages(chat.id);
    expect(continued.map((m) => [m.role, m.content])).toEqual([
      ["user", "message c0"],
      ["assistant", "answer c0"],
      ["user", "message c1"],
      ["assistant", "answer c1"],
    ]);
    const items = await Promise.all(["c0", "c1", "c2"].map((id) => store.items.getByCustomId(batch.id, id)));
    expect(items.map((i) => i?.chatId)).toEqual([chat.id, chat.id, expect.any(Number)]);
    expect(items.slice(0, 2).map((i) => i?.conversationId)).toEqual([continued[0].id, continued[2].id]);
    const opened = await store.chats.get(workspaceId, items[2]?.chatId as number);
    expect(opened).toMatchObject({
      agentId,
      name: "fresh",
      externalUserId: "u2",
      createdAt: now,
      updatedAt: now,
    });
    const [question, answer] = await store.chats.listMessages(opened?.id as number);
    expect([question.createdAt, answer.createdAt, answer.groupId]).toEqual([now, now, question.id]);
    expect(question.meta).toEqual({ batch_id: batch.id });
    await expectCountersExact(batch.id, workspaceId);
  });

  it("keeps a result's detail (tool calls, vectors) and its finish reason, and none when it has none", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const batch = await createBatch(store, workspaceId, agentId, 2);
    const [a, b] = await store.items.claim("w", 10, LEASE, Date.now());
    const detail = {
      toolCalls: [{ id: "call_1", name: "get_weather", arguments: '{"city":"Lima"}' }],
      embeddings: [[0.6, 0.8]],
      usage: { promptTokens: 3, completionTokens: 2, cachedPromptTokens: 1 },
    };
    await store.items.commit(
      [success(a, "w", { responseDetail: detail, finishReason: "tool_calls" }), success(b, "w")],
      Date.now(),
    );
    const withDetail = await store.items.getByCustomId(batch.id, a.customId);
    expect(withDetail).toMatchObject({ finishReason: "tool_calls", responseDetail: detail });
    const [listed] = await store.items.listAfter(batch.id, -1, 1);
    expect(listed.responseDetail).toEqual(detail);
    expect((await store.items.getByCustomId(batch.id, b.customId))?.responseDetail).toBeNull();
  });

  it("stores the parsed answer of structured output beside the text (null without it)", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const batch = await createBatch(store, workspaceId, agentId, 2);
    const [a, b] = await store.items.claim("w", 10, LEASE, Date.now());
    const value = { label: "yes", score: 0.5, tags: ["x"], nested: { ok: true } };
    await store.items.commit(
      [success(a, "w", { responseJson: value, responseContent: JSON.stringify(value) }), success(b, "w")],
      Date.now(),
    );
    expect((await store.items.getByCustomId(batch.id, a.customId))?.responseJson).toEqual(value);
    expect((await store.items.getByCustomId(batch.id, b.customId))?.responseJson).toBeNull();
    const [first] = await store.items.listAfter(batch.id, -1, 1);
    expect(first.responseJson).toEqual(value);
  });

  it("counts the tokens and cost of a failed item's model calls (a 422 after repair) in the batch", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const batch = await createBatch(store, workspaceId, agentId, 2);
    const [a, b] = await store.items.claim("w", 10, LEASE, Date.now());
    const calls = [
      { model: "echo", callType: "llm_call", promptTokens: 4, completionTokens: 3 },
      { model: "echo", callType: "llm_call", promptTokens: 6, completionTokens: 2 },
    ];
    const usage = { promptTokens: 10, completionTokens: 5, cost: 0.25, responseUsage: responseUsage(calls) };
    const fence = { batchId: batch.id, leaseOwner: "w", errorCode: 422, errorMessage: "invalid" };
    await store.items.commit(
      [
        { kind: "failed", itemId: a.id, attempt: a.attempt, ...fence, usage },
        { kind: "failed", itemId: b.id, attempt: b.attempt, ...fence },
      ],
      Date.now(),
    );
    expect(await store.batches.get(workspaceId, batch.id)).toMatchObject({
      status: "completed",
      failed: 2,
      promptTokens: 10,
      completionTokens: 5,
      cost: 0.25,
    });
    const failed = await store.items.getByCustomId(batch.id, a.customId);
    expect(failed).toMatchObject({ status: "failed", errorCode: 422, responseUsage: usage.responseUsage });
    expect((await store.items.getByCustomId(batch.id, b.customId))?.responseUsage).toBeNull();
  });

  it("discards a result whose worker lost the lease (fenced by owner and attempt)", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const batch = await createBatch(store, workspaceId, agentId, 1);
    const [c] = await store.items.claim("w1", 1, LEASE, Date.now());
    const wrongOwner = await store.items.commit([success(c, "w2")], Date.now());
    const wrongAttempt = await store.items.commit(
      [{ ...success(c, "w1"), attempt: 7 } as ItemOutcome],
      Date.now(),
    );
    expect([wrongOwner.discarded, wrongAttempt.discarded]).toEqual([1, 1]);
    expect((await store.items.getByCustomId(batch.id, "c0"))?.status).toBe("processing");
    await expectCountersExact(batch.id, workspaceId);
  });

  it("writes the chat turns of the held items only when some of a group's were fenced off", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const batch = await createBatch(store, workspaceId, agentId, 150);
    const claimed = await store.items.claim("w1", 150, LEASE, Date.now());
    // Items 0, 120 and 149 lost their lease (another owner's outcome): 147 applied over two UPDATEs.
    const lost = new Set([0, 120, 149]);
    const report = await store.items.commit(
      claimed.map((c, i) => success(c, lost.has(i) ? "w2" : "w1")),
      Date.now(),
    );
    expect(report).toMatchObject({ applied: 147, discarded: 3 });
    const b = await store.batches.get(workspaceId, batch.id);
    expect(b).toMatchObject({ succeeded: 147, processing: 3, promptTokens: 3 * 147 });
    for (const i of [0, 1, 119, 120, 121, 149]) {
      const item = await store.items.getByCustomId(batch.id, claimed[i].customId);
      if (lost.has(i)) {
        expect(item).toMatchObject({ status: "processing", chatId: null });
        continue;
      }
      expect(item).toMatchObject({ status: "success", responseContent: `answer ${claimed[i].customId}` });
      const messages = await store.chats.listMessages(item?.chatId as number);
      expect(messages.map((m) => [m.role, m.content])).toEqual([
        ["user", claimed[i].message],
        ["assistant", `answer ${claimed[i].customId}`],
      ]);
      expect(item?.conversationId).toBe(messages[0].id);
    }
    await expectCountersExact(batch.id, workspaceId);
  });

  it("turns a retry into 408 past the completion window and into 499 once cancelled", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const batch = await createBatch(store, workspaceId, agentId, 3);
    const [a, b] = await store.items.claim("w", 2, LEASE, Date.now());
    const retry = (c: ClaimedItem, notBefore: number): ItemOutcome => ({
      kind: "retry",
      itemId: c.id,
      batchId: c.batchId,
      leaseOwner: "w",
      attempt: c.attempt,
      notBefore,
      errorCode: 429,
      errorMessage: "rate limited",
    });
    await store.items.commit([retry(a, batch.expiresAt + 1)], Date.now());
    expect(await store.items.getByCustomId(batch.id, "c0")).toMatchObject({
      status: "failed",
      errorCode: 408,
    });
    await store.batches.cancel(workspaceId, batch.id, Date.now());
    expect(await store.items.getByCustomId(batch.id, "c2")).toMatchObject({
      status: "failed",
      errorCode: 499,
    });
    const report = await store.items.commit([retry(b, Date.now())], Date.now());
    expect(await store.items.getByCustomId(batch.id, "c1")).toMatchObject({
      status: "failed",
      errorCode: 499,
    });
    expect(report.transitions.map((tr) => tr.to)).toEqual(["cancelled"]);
    await expectCountersExact(batch.id, workspaceId);
  });
});

describe("counters of several batches in one transaction", () => {
  /** Three workspaces, one batch each, so that one claim takes from all three. */
  async function threeBatches(size: number) {
    const out: { batchId: string; workspaceId: string }[] = [];
    for (const name of ["a", "b", "c"]) {
      const ws = await seedWorkspace(store, name);
      const batch = await createBatch(store, ws.workspaceId, ws.agentId, size);
      out.push({ batchId: batch.id, workspaceId: ws.workspaceId });
    }
    return out;
  }

  it("moves each batch's counters, tokens and cost exactly, and settles the one that finished", async () => {
    const batches = await threeBatches(2);
    const claimed = await store.items.claim("w", 6, LEASE, Date.now());
    expect(new Set(claimed.map((c) => c.batchId)).size).toBe(3);
    for (const b of batches) await expectCountersExact(b.batchId, b.workspaceId);
    const [a, b] = batches;
    const outcomes = claimed.map((c): ItemOutcome => {
      if (c.batchId === a.batchId) return success(c, "w");
      if (c.batchId === b.batchId)
        return {
          kind: "failed",
          itemId: c.id,
          batchId: c.batchId,
          leaseOwner: "w",
          attempt: c.attempt,
          errorCode: 400,
          errorMessage: "bad",
        } as ItemOutcome;
      return {
        kind: "retry",
        itemId: c.id,
        batchId: c.batchId,
        leaseOwner: "w",
        attempt: c.attempt,
        notBefore: 0,
        errorCode: 502,
        errorMessage: "upstream",
      } as ItemOutcome;
    });
    const report = await store.items.commit(outcomes, Date.now());
    expect(report.applied).toBe(6);
    expect(new Set(report.touchedBatchIds)).toEqual(new Set(batches.map((x) => x.batchId)));
    for (const x of batches) await expectCountersExact(x.batchId, x.workspaceId);
    const read = await Promise.all(batches.map((x) => store.batches.get(x.workspaceId, x.batchId)));
    expect(read.map((x) => [x?.status, x?.promptTokens, x?.completionTokens, x?.cost])).toEqual([
      ["completed", 6, 4, 1],
      ["completed", 0, 0, 0],
      ["in_progress", 0, 0, 0],
    ]);
    expect(read.map((x) => x?.pending)).toEqual([0, 0, 2]);
  });

  it("keeps the counters exact under concurrent claims and commits over the same batches", async () => {
    const batches = await threeBatches(40);
    const worker = async (owner: string) => {
      for (;;) {
        const claimed = await store.items.claim(owner, 6, LEASE, Date.now());
        if (claimed.length === 0) return;
        await store.items.commit(
          claimed.map((c) => success(c, owner)),
          Date.now(),
        );
      }
    };
    await Promise.all(["w1", "w2", "w3", "w4"].map(worker));
    for (const x of batches) {
      await expectCountersExact(x.batchId, x.workspaceId);
      const b = await store.batches.get(x.workspaceId, x.batchId);
      expect([b?.status, b?.succeeded, b?.promptTokens, b?.cost]).toEqual(["completed", 40, 120, 20]);
    }
  });
});

describe("leases", () => {
  it("renews what the owner holds and reports the rest as lost", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    await createBatch(store, workspaceId, agentId, 2);
    const claimed = await store.items.claim("w", 2, LEASE, Date.now());
    const lost = await store.items.renewLeases(
      "w",
      [...claimed.map((c) => c.id), 999_999],
      Date.now() + LEASE,
    );
    expect(lost).toEqual([999_999]);
    expect(await store.items.renewLeases("other", [claimed[0].id], Date.now() + LEASE)).toEqual([
      claimed[0].id,
    ]);
  });

  it("hands unstarted items back without spending an attempt", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const batch = await createBatch(store, workspaceId, agentId, 2);
    const claimed = await store.items.claim("w", 2, LEASE, Date.now());
    await store.items.release(
      "w",
      claimed.map((c) => ({ itemId: c.id, attempt: c.attempt })),
    );
    const again = await store.items.claim("w", 2, LEASE, Date.now());
    expect(again.map((c) => c.attempt)).toEqual([1, 1]);
    await expectCountersExact(batch.id, workspaceId);
  });

  it("reaps expired leases: back to pending, or quarantined (500) at the interruption limit", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const batch = await createBatch(store, workspaceId, agentId, 1);
    const [c] = await store.items.claim("w", 1, 10, Date.now());
    const first = await store.items.reapExpired(Date.now() + 1000, 2);
    expect(first.applied).toBe(1);
    expect(await store.items.getByCustomId(batch.id, c.customId)).toMatchObject({
      status: "pending",
      errorCode: 500,
    });
    await store.items.claim("w", 1, 10, Date.now() + 2000);
    const second = await store.items.reapExpired(Date.now() + 3000, 2);
    expect(second.transitions.map((tr) => tr.to)).toEqual(["completed"]);
    expect(await store.items.getByCustomId(batch.id, c.customId)).toMatchObject({
      status: "failed",
      errorCode: 500,
    });
    expect((await store.items.getByCustomId(batch.id, c.customId))?.errorMessage).toMatch(/^Quarantined/);
    await expectCountersExact(batch.id, workspaceId);
  });

  it("reaps expired leases of paused and cancelling batches too, and leaves the unexpired ones held", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const paused = await createBatch(store, workspaceId, agentId, 1);
    const [p] = await store.items.claim("w", 1, 10, Date.now());
    const cancelling = await createBatch(store, workspaceId, agentId, 2);
    const [c] = await store.items.claim("w", 1, 10, Date.now());
    const running = await createBatch(store, workspaceId, agentId, 1);
    const [r] = await store.items.claim("live", 1, LEASE, Date.now());
    expect([p.batchId, c.batchId, r.batchId]).toEqual([paused.id, cancelling.id, running.id]);
    expect((await store.batches.pause(workspaceId, paused.id, Date.now())).kind).toBe("ok");
    await store.batches.cancel(workspaceId, cancelling.id, Date.now());
    expect((await store.batches.get(workspaceId, cancelling.id))?.status).toBe("cancelling");

    const report = await store.items.reapExpired(Date.now() + 1000, 3);
    expect(report.applied).toBe(2);
    expect((await store.items.getByCustomId(paused.id, p.customId))?.status).toBe("pending");
    expect((await store.items.getByCustomId(cancelling.id, c.customId))?.status).toBe("failed");
    expect((await store.batches.get(workspaceId, cancelling.id))?.status).toBe("cancelled");
    expect((await store.items.getByCustomId(running.id, r.customId))?.status).toBe("processing");
    expect((await store.items.leaseHolders()).map((h) => h.owner)).toEqual(["live"]);
    expect((await store.items.reapExpired(Date.now() + 1000, 3)).applied).toBe(0);
    for (const b of [paused, cancelling, running]) await expectCountersExact(b.id, workspaceId);
  });

  it("returns the items of dead owners at once, counting an interruption, and leaves the others", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const batch = await createBatch(store, workspaceId, agentId, 4);
    const deadAt = Date.now();
    const deadOnes = await store.items.claim("dead", 2, LEASE, deadAt);
    const liveOnes = await store.items.claim("live", 2, LEASE, deadAt + 5000);
    // Each owner with the earliest lease of its items (the reaper scans only when one ran out).
    const holders = (await store.items.leaseHolders()).sort((a, b) => a.owner.localeCompare(b.owner));
    expect(holders).toEqual([
      { owner: "dead", earliestExpiry: deadAt + LEASE },
      { owner: "live", earliestExpiry: deadAt + 5000 + LEASE },
    ]);
    const report = await store.items.recoverFrom(["dead"], Date.now(), 3);
    expect(report.applied).toBe(2);
    expect((await store.items.leaseHolders()).map((h) => h.owner)).toEqual(["live"]);
    expect(
      await store.items.renewLeases(
        "live",
        liveOnes.map((c) => c.id),
        Date.now() + LEASE,
      ),
    ).toEqual([]);
    const again = await store.items.claim("next", 4, LEASE, Date.now());
    expect(again.map((c) => c.id).sort()).toEqual(deadOnes.map((c) => c.id).sort());
    // The claim counted an attempt, the crash an interruption: no upstream try was spent.
    expect(again.map((c) => [c.attempt, c.interruptions])).toEqual([
      [2, 1],
      [2, 1],
    ]);
    await expectCountersExact(batch.id, workspaceId);
  });
});

describe("reads", () => {
  it("pages items by offset and by keyset, maps statuses and counts failures by code", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const batch = await createBatch(store, workspaceId, agentId, 5);
    const [c0, c1] = await store.items.claim("w", 2, LEASE, Date.now());
    await store.items.commit(
      [
        success(c0, "w"),
        {
          kind: "failed",
          itemId: c1.id,
          batchId: batch.id,
          leaseOwner: "w",
          attempt: 1,
          errorCode: 400,
          errorMessage: "bad",
        },
      ],
      Date.now(),
    );
    const page = await store.items.list(batch.id, { limit: 2, offset: 1 });
    expect(page.total).toBe(5);
    expect(page.rows.map((r) => r.customId)).toEqual(["c1", "c2"]);
    expect((await store.items.list(batch.id, { limit: 10, offset: 0, status: "pending" })).total).toBe(3);
    const after = await store.items.listAfter(batch.id, page.rows[0].seq, 10);
    expect(after.map((r) => r.customId)).toEqual(["c2", "c3", "c4"]);
    expect((await store.items.listAfter(batch.id, -1, 10, "failed")).map((r) => r.customId)).toEqual(["c1"]);
    // The export's narrow read, as arrays: the same items and, cell for cell, what listAfter says
    // of them (its JSON fields as their stored text), and no other cell.
    const full = await store.items.listAfter(batch.id, -1, 10);
    const rows = await store.items.listResultRowsAfter(batch.id, -1, 10);
    const named = (r: readonly unknown[]) =>
      Object.fromEntries(Object.entries(RESULT_CELL).map(([name, i]) => [name, r[i]]));
    for (const r of rows) expect(r).toHaveLength(Object.keys(RESULT_CELL).length);
    const jsonCells = ["responseUsage", "responseJson", "context", "metadata"];
    for (const r of rows.map(named)) {
      for (const cell of jsonCells) expect(r[cell] === null || typeof r[cell] === "string").toBe(true);
    }
    const parsed = (r: Record<string, unknown>) =>
      Object.fromEntries(
        Object.entries(r).map(([k, v]) => [
          k,
          jsonCells.includes(k) && v !== null ? JSON.parse(v as string) : v,
        ]),
      );
    expect(rows.map((r) => parsed(named(r)))).toEqual(
      full.map((it) => ({
        seq: it.seq,
        customId: it.customId,
        status: it.status,
        responseContent: it.responseContent,
        responseUsage: it.responseUsage,
        responseJson: it.responseJson,
        errorCode: it.errorCode,
        errorMessage: it.errorMessage,
        chatId: it.chatId,
        conversationId: it.conversationId,
        processedAt: it.processedAt,
        attempts: it.attempts,
        agentId: it.agentId,
        context: it.context,
        metadata: it.metadata,
      })),
    );
    expect(rows[0][RESULT_CELL.responseContent]).not.toBeNull();
    expect(rows[0][RESULT_CELL.responseUsage]).not.toBeNull();
    const resultsAfter = async (seq: number, limit: number, status?: "failed") =>
      (await store.items.listResultRowsAfter(batch.id, seq, limit, status)).map(named);
    expect((await resultsAfter(rows[1][RESULT_CELL.seq] as number, 2)).map((r) => r.customId)).toEqual([
      "c2",
      "c3",
    ]);
    expect((await resultsAfter(-1, 10, "failed")).map((r) => r.errorCode)).toEqual([400]);
    expect(await store.items.statusMap(batch.id, { limit: 2, offset: 0 })).toEqual({
      pending: ["c2", "c3"],
      processing: [],
      awaiting_tool_calls: [],
      success: ["c0"],
      failed: ["c1"],
    });
    expect([...(await store.items.countFailedByCode(batch.id))]).toEqual([[400, 1]]);
  });
});
