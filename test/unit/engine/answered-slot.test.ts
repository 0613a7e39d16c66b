import { describe, expect, it } from "vitest";
import type { ModelOutcome } from "../../../src/providers/types.js";
import { FakeStore } from "./fake-store.js";
import {
  deferred,
  engineWith,
  fakeHttpTools,
  lookupTool,
  stoppedAfterEach,
  success,
  waitFor,
} from "./harness.js";

const live = stoppedAfterEach();

/**
 * One slot (and a provider limit of one call) over `n` items, each call gated: the test says
 * when its answer is in (`arrive`, what an HTTP upstream reports before reading the answer) and,
 * separately, when the provider has read it (`answer`).
 */
function gated(n: number, options: { tools?: boolean; claimAhead?: number } = {}) {
  const store = new FakeStore();
  const ids = store.addItems(n);
  const calls: {
    message: string;
    arrive: () => void;
    answer: (o: ModelOutcome) => void;
    hooked: boolean;
  }[] = [];
  const h = engineWith(
    (request, _signal, _onDelta, onAnswered) => {
      const call = deferred<ModelOutcome>();
      calls.push({
        message: String(request.messages.at(-1)?.content),
        arrive: () => onAnswered?.(),
        answer: call.resolve,
        hooked: onAnswered !== undefined,
      });
      return call.promise;
    },
    {
      store,
      maxConcurrency: 1,
      config: { concurrency: 1, claimAhead: options.claimAhead ?? 4, pollIntervalMs: 60_000 },
      ...(options.tools
        ? { tools: fakeHttpTools(() => ({ output: "{}", isError: false, durationMs: 1 })) }
        : {}),
    },
  );
  if (options.tools) store.agent = { ...store.agent, tools: [lookupTool] };
  live.running = h.engine;
  live.answerAll = () => {
    for (const c of calls) c.answer(success());
  };
  return { ...h, ids, calls };
}

describe("an answered call frees its slot before its answer is read", () => {
  it("starts the next item when the answer arrives, before the first is read or stored", async () => {
    const { engine, store, calls, ids } = gated(3);
    engine.start();
    await waitFor(() => calls.length === 1, "the first call");
    expect(calls[0].hooked).toBe(true);
    calls[0].arrive();
    // The slot and the provider's one concurrency permit are free: the second call leaves while
    // the first answer is still unread and nothing is stored.
    await waitFor(() => calls.length === 2, "the second call, on the first one's arrival");
    expect(calls[1].message).toBe("message 2");
    expect(store.committed).toEqual([]);
    expect(engine.stats().held).toBe(3);
    // Still one call at a time: the third waits for the second's arrival.
    calls[0].answer(success("first"));
    await waitFor(() => store.committed.length === 1, "the first outcome stored");
    expect(store.committed[0].itemId).toBe(ids[0]);
    expect(calls).toHaveLength(2);
    calls[1].answer(success("second"));
    await waitFor(() => calls.length === 3, "the third call once the second is done");
    calls[2].answer(success());
    await waitFor(() => store.committed.length === 3, "every outcome stored");
    expect(store.committed.map((o) => o.kind)).toEqual(["success", "success", "success"]);
  });

  it("an answered item leaves room in the claim buffer: it is refilled before any answer is read", async () => {
    // 1 slot + 4 ahead, refilled once 3 are free: three arrivals free three.
    const { engine, store, calls } = gated(10);
    engine.start();
    await waitFor(() => calls.length === 1 && engine.stats().claimedAhead === 4, "a call and four buffered");
    // The slot first, then the buffer (an idle engine's first claim fills only its slots).
    expect(store.claims).toEqual([1, 4]);
    for (let i = 0; i < 3; i++) {
      calls[i].arrive();
      await waitFor(() => calls.length === i + 2, `call ${i + 2}`);
    }
    await waitFor(() => store.claims.length === 3, "a refill claim");
    expect(store.claims).toEqual([1, 4, 3]);
    expect(store.committed).toEqual([]);
    expect(engine.stats().held).toBe(8);
  });

  it("an arrival reported twice, or after the outcome, frees no second slot", async () => {
    const { engine, store, calls } = gated(4);
    engine.start();
    await waitFor(() => calls.length === 1, "the first call");
    calls[0].arrive();
    calls[0].arrive();
    await waitFor(() => calls.length === 2, "the second call");
    calls[0].answer(success());
    await waitFor(() => store.committed.length === 1, "the first outcome stored");
    calls[0].arrive();
    // Let the engine run its turns; only the second item may be in a call.
    await waitFor(() => engine.stats().claimedAhead === 2, "two items still buffered");
    expect(calls).toHaveLength(2);
  });

  it("a turn with tools keeps its slot until it ends (it calls the model again)", async () => {
    const { engine, calls } = gated(2, { tools: true });
    engine.start();
    await waitFor(() => calls.length === 1, "the first call");
    expect(calls[0].hooked).toBe(false);
  });

  it("a stop after the arrival still stores the answered item's outcome", async () => {
    const { engine, store, calls, ids } = gated(3);
    engine.start();
    await waitFor(() => calls.length === 1, "the first call");
    calls[0].arrive();
    await waitFor(() => calls.length === 2, "the second call");
    const stopping = engine.stop(5_000);
    calls[0].answer(success());
    calls[1].answer(success());
    await stopping;
    expect(store.committed.map((o) => o.itemId)).toEqual(ids.slice(0, 2));
    expect(store.status(ids[2])).toBe("pending");
  });
});
