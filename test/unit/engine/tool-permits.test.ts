import { describe, expect, it } from "vitest";
import type { ModelRequest } from "../../../src/providers/types.js";
import { type Complete, engineWith, fakeHttpTools, lookupModel, lookupTool, waitFor } from "./harness.js";

const found = () => ({ output: "found", isError: false, durationMs: 1 });

/** An engine whose agent has a tool, with the `fake` limiter's acquisitions counted. */
function toolEngine(complete: Complete, maxConcurrency = 1) {
  const h = engineWith(complete, { tools: fakeHttpTools(found), maxConcurrency });
  h.store.agent = { ...h.store.agent, tools: [lookupTool] };
  const limiter = h.limiters.get("fake");
  const acquire = limiter.acquire.bind(limiter);
  const counted = { acquisitions: 0 };
  limiter.acquire = (tokens, signal) => {
    counted.acquisitions++;
    return acquire(tokens, signal);
  };
  // A permit free at once is taken without a wait (`tryAcquire`): counted as one acquired.
  const tryAcquire = limiter.tryAcquire?.bind(limiter);
  limiter.tryAcquire = (tokens) => {
    const permit = tryAcquire?.(tokens) ?? null;
    if (permit) counted.acquisitions++;
    return permit;
  };
  return { ...h, limiter, counted };
}

describe("a tool-using item's rate-limit permits", () => {
  // An item with history reserves its permit before its context is read: that permit is the
  // first model call's, not given back and taken again.
  for (const historyId of [7, null]) {
    it(`takes exactly one permit per model call (history: ${historyId !== null})`, async () => {
      const calls: ModelRequest[] = [];
      const { engine, store, limiter, counted } = toolEngine(lookupModel(calls));
      const [id] = store.addItems(1, "batch-1", { historyId });
      engine.start();
      try {
        await waitFor(() => store.committed.length === 1, "the item's outcome");
        expect(store.committed[0]).toMatchObject({ itemId: id, kind: "success" });
        expect(calls).toHaveLength(2);
        expect(counted.acquisitions).toBe(calls.length);
        expect(limiter.running).toBe(0);
      } finally {
        await engine.stop(100);
      }
    });
  }

  it("gives the reserved permit back once when the first model call throws", async () => {
    const { engine, store, limiter, counted } = toolEngine(async () => {
      throw new Error("provider bug");
    });
    // One permit at a time: a permit leaked by the first item would stall the second for good.
    store.addItems(2, "batch-1", { historyId: 7 });
    engine.start();
    try {
      await waitFor(() => store.committed.length === 2, "both items' outcomes");
      expect(store.committed.map((o) => o.kind)).toEqual(["failed", "failed"]);
      expect(counted.acquisitions).toBe(2);
      expect(limiter.running).toBe(0);
    } finally {
      await engine.stop(100);
    }
  });
});
