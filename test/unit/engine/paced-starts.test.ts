import { describe, expect, it } from "vitest";
import type { ModelOutcome } from "../../../src/providers/types.js";
import { FakeStore } from "./fake-store.js";
import { deferred, engineWith, stoppedAfterEach, success, waitFor } from "./harness.js";

const N = 600;
const live = stoppedAfterEach();

/**
 * An engine with 600 slots over 600 items claimed in one group, so that more items are due to
 * start than one event-loop turn may start (256): the rest wait for the pacer's next turns.
 * `onFirstCall` runs when the first model call begins, while later starts still wait.
 */
function paced(onFirstCall: (h: ReturnType<typeof engineWith>) => void) {
  const store = new FakeStore();
  const ids = store.addItems(N);
  const called: number[] = [];
  const calls: ((o: ModelOutcome) => void)[] = [];
  const h = engineWith(
    (request, signal) => {
      // A call whose item was handed back meanwhile begins with its signal aborted (a real
      // upstream call ends at once): only live calls count.
      if (!signal.aborted)
        called.push(Number(String(request.messages.at(-1)?.content).replace("message ", "")));
      const call = deferred<ModelOutcome>();
      calls.push(call.resolve);
      if (calls.length === 1) onFirstCall(h);
      return call.promise;
    },
    {
      store,
      maxConcurrency: N,
      config: { concurrency: N, claimAhead: 0, claimBatchSize: N, pollIntervalMs: 60_000 },
    },
  );
  live.running = h.engine;
  live.answerAll = () => {
    for (const c of calls) c(success());
  };
  return { ...h, ids, called, calls };
}

/** Items handed back, by id. */
const released = (store: FakeStore) => new Set(store.releases.flatMap((r) => r.items.map((i) => i.itemId)));

describe("paced starts", () => {
  it("start no item of a batch paused while they waited for their turn", async () => {
    const h = paced(({ store, signals }) => {
      store.haltedBatches.add("batch-1");
      signals.notifyBatchChanged({
        batchIds: ["batch-1"],
        transitions: [{ batchId: "batch-1", workspaceId: "ws-1", from: "in_progress", to: "paused" }],
      });
    });
    h.engine.start();
    await waitFor(() => h.store.releases.length > 0, "the unstarted items to be handed back");
    const back = released(h.store);
    const calledBefore = h.called.length;
    live.answerAll();
    await waitFor(() => h.store.committed.length === calledBefore, "the calls in flight to be stored");
    // No call began after the pause, and none for an item handed back.
    expect(h.called).toHaveLength(calledBefore);
    expect(h.called.filter((i) => back.has(h.ids[i - 1]))).toEqual([]);
    expect(calledBefore + back.size).toBe(N);
    expect(calledBefore).toBeLessThan(N);
  });

  it("start nothing once the engine stops, and every item is stored or handed back", async () => {
    let stopping: Promise<void> | undefined;
    const h = paced(({ engine }) => {
      stopping = engine.stop(5_000);
    });
    h.engine.start();
    await waitFor(() => stopping !== undefined, "the stop");
    const calledAtStop = h.called.length;
    live.answerAll();
    await stopping;
    live.running = null;
    expect(h.called).toHaveLength(calledAtStop);
    const back = released(h.store);
    const stored = new Set(h.store.committed.map((o) => o.itemId));
    expect(stored.size + back.size).toBe(N);
    expect([...stored].filter((id) => back.has(id))).toEqual([]);
    expect(calledAtStop).toBeLessThan(N);
  });
});
