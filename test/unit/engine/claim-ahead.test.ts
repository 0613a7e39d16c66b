import { describe, expect, it } from "vitest";
import { claimGroupOf, commitGroupOf, MAX_SCALED_GROUP } from "../../../src/engine/group-sizes.js";
import {
  CLAIM_AHEAD_HORIZON_MS,
  CompletionRate,
  claimAheadOf,
  MAX_DEFAULT_CLAIM_AHEAD,
  MAX_GROWN_CLAIM_AHEAD,
} from "../../../src/engine/producer.js";
import type { ModelOutcome } from "../../../src/providers/types.js";
import { FakeStore } from "./fake-store.js";
import { deferred, engineWith, type Harness, stoppedAfterEach, success, waitFor } from "./harness.js";

const live = stoppedAfterEach();

/**
 * An engine with 2 slots and 4 items claimed ahead (refilled once fewer than 2 wait) over 10
 * items, whose model calls each wait until the test answers them, in the order they began.
 */
function gated(config: Record<string, number> = {}) {
  const store = new FakeStore();
  const ids = store.addItems(10);
  const calls: { message: string; answer: (o: ModelOutcome) => void }[] = [];
  const h: Harness = engineWith(
    (request) => {
      const call = deferred<ModelOutcome>();
      calls.push({ message: String(request.messages.at(-1)?.content), answer: call.resolve });
      return call.promise;
    },
    // No poll: the claimer runs only when started or woken.
    { store, config: { concurrency: 2, claimAhead: 4, pollIntervalMs: 60_000, ...config } },
  );
  live.running = h.engine;
  live.answerAll = () => {
    for (const c of calls) c.answer(success());
  };
  return { ...h, ids, calls };
}

describe("claiming ahead of the slots", () => {
  it("refills a finished item's slot from the buffer, without a claim", async () => {
    const { engine, store, calls } = gated();
    engine.start();
    await waitFor(() => calls.length === 2 && engine.stats().held === 6, "two calls and four buffered");
    // An idle engine claims what fills its slots first, then the buffer.
    expect(store.claims).toEqual([2, 4]);
    expect(engine.stats().claimedAhead).toBe(4);
    calls[0].answer(success());
    await waitFor(() => calls.length === 3, "the next item to start in the freed slot");
    expect(calls[2].message).toBe("message 3");
    expect(engine.stats().claimedAhead).toBe(3);
    expect(store.claims).toEqual([2, 4]);
  });

  it("claims again once the buffer falls below half, for what is missing", async () => {
    const { engine, store, calls } = gated();
    engine.start();
    await waitFor(() => calls.length === 2, "two calls");
    calls[0].answer(success());
    await waitFor(() => calls.length === 3, "the third call");
    calls[1].answer(success());
    await waitFor(() => calls.length === 4, "the fourth call");
    // Two left in the buffer: half, not below it.
    expect(store.claims).toEqual([2, 4]);
    calls[2].answer(success());
    await waitFor(() => calls.length === 5 && store.claims.length === 3, "a refill claim");
    expect(store.claims).toEqual([2, 4, 3]);
    await waitFor(() => engine.stats().claimedAhead === 4, "a full buffer again");
    expect(calls).toHaveLength(5);
  });

  it("stop() hands the buffered items back unspent, and never starts them", async () => {
    const { engine, store, calls, ids } = gated();
    engine.start();
    await waitFor(() => calls.length === 2 && engine.stats().held === 6, "two calls and four buffered");
    const stopping = engine.stop(5_000);
    for (const c of calls) c.answer(success());
    await stopping;
    expect(calls).toHaveLength(2);
    expect(store.committed.map((o) => o.itemId)).toEqual(ids.slice(0, 2));
    expect(store.releases.flatMap((r) => r.items)).toEqual(
      ids.slice(2, 6).map((itemId) => ({ itemId, attempt: 1 })),
    );
    expect(ids.slice(2, 6).map((id) => store.status(id))).toEqual(Array(4).fill("pending"));
  });

  it("hands back the buffered items of a paused batch at once", async () => {
    const { engine, store, calls, ids, signals } = gated();
    engine.start();
    await waitFor(() => calls.length === 2 && engine.stats().held === 6, "two calls and four buffered");
    store.haltedBatches.add("batch-1");
    signals.notifyBatchChanged({
      batchIds: ["batch-1"],
      transitions: [{ batchId: "batch-1", workspaceId: "ws-1", from: "in_progress", to: "paused" }],
    });
    await waitFor(() => store.releases.length === 1, "the buffered items to be handed back");
    expect(store.releases[0].items.map((i) => i.itemId)).toEqual(ids.slice(2, 6));
    expect(engine.stats().claimedAhead).toBe(0);
    calls[0].answer(success());
    await waitFor(() => store.committed.length === 1, "the running item to be stored");
    expect(calls).toHaveLength(2);
  });

  it("claims no more than the slots with claimAhead 0", async () => {
    const { engine, store, calls } = gated({ claimAhead: 0 });
    engine.start();
    await waitFor(() => calls.length === 2, "two calls");
    expect(store.claims).toEqual([2]);
    expect(engine.stats()).toMatchObject({ held: 2, claimedAhead: 0 });
  });

  it("defaults to the slots, none below 4 slots, at most MAX_DEFAULT_CLAIM_AHEAD", () => {
    expect(claimAheadOf({ concurrency: 3 })).toBe(0);
    expect(claimAheadOf({ concurrency: 4 })).toBe(4);
    expect(claimAheadOf({ concurrency: 64 })).toBe(64);
    expect(claimAheadOf({ concurrency: 10_000 })).toBe(MAX_DEFAULT_CLAIM_AHEAD);
    expect(claimAheadOf({ concurrency: 10_000, claimAhead: 5_000 })).toBe(5_000);
    expect(claimAheadOf({ concurrency: 64, claimAhead: 0 })).toBe(0);
  });

  it("keeps the slots while the completions of the horizon fit in them (latency-bound calls)", () => {
    // 64 slots at 50 ms calls: 1,280 items/s, 32 items in 25 ms.
    expect(claimAheadOf({ concurrency: 64 }, 1_280)).toBe(64);
    expect(claimAheadOf({ concurrency: 64 }, (64 * 1000) / CLAIM_AHEAD_HORIZON_MS)).toBe(64);
    expect(claimAheadOf({ concurrency: 3 }, 100_000)).toBe(0);
  });

  it("grows with a fast completion rate, to at most two claim groups", () => {
    // 10,000 items/s: 250 items in 25 ms.
    expect(claimAheadOf({ concurrency: 64 }, 10_000)).toBe(250);
    expect(claimAheadOf({ concurrency: 64 }, 100_000)).toBe(400);
    expect(claimAheadOf({ concurrency: 64, claimBatchSize: 50 }, 100_000)).toBe(100);
    // 10,000 slots claim 500 at a time: at most 1,000 ahead.
    expect(claimAheadOf({ concurrency: 10_000 }, 200_000)).toBe(1_000);
    expect(claimAheadOf({ concurrency: 64, claimBatchSize: 5_000 }, 1_000_000)).toBe(MAX_GROWN_CLAIM_AHEAD);
    // Never below the slots' default, even with a small claim group.
    expect(claimAheadOf({ concurrency: 256, claimBatchSize: 50 }, 100_000)).toBe(256);
  });

  it("uses a configured claimAhead as given, at any rate", () => {
    expect(claimAheadOf({ concurrency: 64, claimAhead: 16 }, 100_000)).toBe(16);
    expect(claimAheadOf({ concurrency: 64, claimAhead: 0 }, 100_000)).toBe(0);
    expect(claimAheadOf({ concurrency: 64, claimAhead: 5_000 }, 0)).toBe(5_000);
  });

  it("measures the completion rate as a moving average of the items finished", () => {
    const rate = new CompletionRate();
    expect(rate.sample(1_000, 0)).toBe(0);
    // 10 items a millisecond for 2 s, sampled every 4 ms: close to 10,000/s.
    let total = 0;
    for (let t = 1_004; t <= 3_000; t += 4) {
      total += 40;
      rate.sample(t, total);
    }
    expect(rate.perS).toBeGreaterThan(9_900);
    expect(rate.perS).toBeLessThanOrEqual(10_000);
    // Nothing finishes for 2 s: it decays toward none.
    rate.sample(5_000, total);
    expect(rate.perS).toBeLessThan(10);
    // A sample at the same time changes nothing.
    expect(rate.sample(5_000, total + 100)).toBe(rate.perS);
  });

  it("an engine's buffer follows its completion rate: an instant model grows its claims past the slots", async () => {
    const store = new FakeStore();
    store.addItems(3_000);
    const h: Harness = engineWith(async () => success(), {
      store,
      config: { concurrency: 4, pollIntervalMs: 60_000 },
    });
    live.running = h.engine;
    h.engine.start();
    await waitFor(() => store.committed.length === 3_000, "every item stored");
    // Without the rate, every claim is at most the slots plus the buffer of 4: 8. Any rate above
    // 160 items/s (4 items in 25 ms) grows the buffer; an instant model on the fake store runs
    // thousands a second.
    expect(Math.max(...store.claims)).toBeGreaterThan(8);
  });
});

describe("group sizes at thousands of slots", () => {
  it("unset, claims 200 and commits 200 below a few thousand slots", () => {
    expect(claimGroupOf({ concurrency: 256 })).toBe(200);
    expect(commitGroupOf({ concurrency: 256 })).toBe(200);
    expect(claimGroupOf({ concurrency: 4000 })).toBe(200);
    expect(commitGroupOf({ concurrency: 5000 })).toBe(200);
  });

  it("unset, grows the groups with the slots up to a cap", () => {
    expect(claimGroupOf({ concurrency: 10_000 })).toBe(500);
    expect(commitGroupOf({ concurrency: 10_000 })).toBe(400);
    expect(claimGroupOf({ concurrency: 1_000_000 })).toBe(MAX_SCALED_GROUP);
    expect(commitGroupOf({ concurrency: 1_000_000 })).toBe(MAX_SCALED_GROUP);
  });

  it("uses a configured size as is, smaller or larger, at any number of slots", () => {
    expect(claimGroupOf({ concurrency: 10_000, claimBatchSize: 2000 })).toBe(2000);
    expect(claimGroupOf({ concurrency: 10_000, claimBatchSize: 50 })).toBe(50);
    expect(commitGroupOf({ concurrency: 10_000, commitBatchSize: 20 })).toBe(20);
    expect(commitGroupOf({ concurrency: 256, commitBatchSize: 300 })).toBe(300);
  });
});
