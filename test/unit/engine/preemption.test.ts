import { describe, expect, it } from "vitest";
import type { ModelOutcome } from "../../../src/providers/types.js";
import { FakeStore } from "./fake-store.js";
import { captureLogger, deferred, engineWith, stoppedAfterEach, success, waitFor } from "./harness.js";

const live = stoppedAfterEach();

/**
 * An engine of 4 slots, no buffer, a workspace cap of 2 (`workspaceShare` 0.5), over 20 items of
 * workspace `ws-a`, whose calls wait until the test answers them; counts the reads of the runnable
 * workspaces (the preemption check).
 */
function overCap(pollIntervalMs: number) {
  const store = new FakeStore();
  store.addItems(20, "batch-a", { workspaceId: "ws-a" });
  let reads = 0;
  const read = store.items.runnableWorkspaces;
  store.items.runnableWorkspaces = () => {
    reads++;
    return read();
  };
  const calls: { answer: (o: ModelOutcome) => void }[] = [];
  const { logger, lines } = captureLogger();
  const h = engineWith(
    () => {
      const call = deferred<ModelOutcome>();
      calls.push({ answer: call.resolve });
      return call.promise;
    },
    { store, logger, config: { concurrency: 4, claimAhead: 0, workspaceShare: 0.5, pollIntervalMs } },
  );
  live.running = h.engine;
  live.answerAll = () => {
    for (const c of calls) c.answer(success());
  };
  return { ...h, calls, lines, reads: () => reads };
}

describe("taking back the slots of a workspace over its cap", () => {
  it("reads the runnable workspaces again only once work arrives while none under its cap waits", async () => {
    const { engine, store, signals, calls, lines, reads } = overCap(60_000);
    engine.start();
    // Alone, ws-a takes all 4 slots (over its cap of 2).
    await waitFor(() => calls.length === 4, "four calls");
    // Each answer (and its commit) wakes the claimer, which refills the slot and is full again:
    // the first wake with the slots full checks, the later ones find nothing new to read.
    for (let i = 0; i < 4; i++) {
      calls[i].answer(success());
      await waitFor(() => calls.length === 5 + i, `call ${5 + i}`);
    }
    await waitFor(() => store.committed.length === 4, "the answers stored");
    expect(reads()).toBe(1);

    // Work of another workspace: the next check reads again, and ws-a gives back its excess.
    store.addItems(2, "batch-b", { workspaceId: "ws-b" });
    signals.notifyWork();
    await waitFor(
      () => lines.some((l) => l.msg === "workspace over its share: items handed back"),
      "ws-a's excess handed back",
    );
    expect(reads()).toBe(2);
  });

  it("reads again once the poll interval has passed, signal or not", async () => {
    const { engine, calls, reads } = overCap(20);
    engine.start();
    await waitFor(() => calls.length === 4, "four calls");
    // The claimer's poll wakes it every 20 ms; each wake after the bound reads again.
    await waitFor(() => reads() >= 3, "checks after the bound");
    expect(calls).toHaveLength(4);
  });
});
