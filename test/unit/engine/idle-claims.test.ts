import { describe, expect, it } from "vitest";
import type { ModelOutcome } from "../../../src/providers/types.js";
import { FakeStore } from "./fake-store.js";
import { deferred, engineWith, stoppedAfterEach, success, waitFor } from "./harness.js";

const live = stoppedAfterEach();

/**
 * An engine of 4 slots and no buffer over `items` items, whose calls wait until the test answers
 * them. The store's claim reports whether any batch had items to run (`ClaimSeen.runnable`).
 */
function slotsOf4(items: number, pollIntervalMs: number) {
  const store = new FakeStore();
  store.addItems(items, "batch-a");
  const calls: { answer: (o: ModelOutcome) => void }[] = [];
  const h = engineWith(
    () => {
      const call = deferred<ModelOutcome>();
      calls.push({ answer: call.resolve });
      return call.promise;
    },
    { store, config: { concurrency: 4, claimAhead: 0, pollIntervalMs } },
  );
  live.running = h.engine;
  live.answerAll = () => {
    for (const c of calls) c.answer(success());
  };
  return { ...h, calls };
}

describe("claims once nothing is left to run", () => {
  it("a claim that saw no runnable batch holds the next ones until work arrives", async () => {
    const { engine, store, signals, calls } = slotsOf4(4, 60_000);
    engine.start();
    await waitFor(() => calls.length === 4, "four calls");
    // Each answer frees a slot and wakes the claimer; the first wake finds nothing runnable, and
    // the later ones do not read again.
    for (const c of calls) c.answer(success());
    await waitFor(() => store.committed.length === 4, "the answers stored");
    expect(store.claims).toHaveLength(2);

    // Work arrives (with its signal): claimed at once, not after the 60 s poll.
    store.addItems(2, "batch-b");
    signals.notifyWork();
    await waitFor(() => calls.length === 6, "the new items called");
    expect(store.claims.length).toBeGreaterThanOrEqual(3);
  });

  it("claims again after the poll interval, signal or not", async () => {
    const { engine, store, calls } = slotsOf4(4, 20);
    engine.start();
    await waitFor(() => calls.length === 4, "four calls");
    for (const c of calls) c.answer(success());
    // Items that appear with no signal are found by the claim after the interval.
    store.addItems(1, "batch-b");
    await waitFor(() => calls.length === 5, "the unsignalled item called");
  });

  it("a claim that saw runnable items but took none (a retry not yet due) does not hold the next", async () => {
    const { engine, store, calls } = slotsOf4(4, 60_000);
    // A fifth item, due only in a minute: claims see it pending and take nothing.
    store.dueAt(store.addItems(1, "batch-b")[0], Date.now() + 60_000);
    engine.start();
    await waitFor(() => calls.length === 4, "four calls");
    // Every freed slot claims again (each claim finds the item pending, none due).
    for (let i = 0; i < 4; i++) {
      const claims = store.claims.length;
      calls[i].answer(success());
      await waitFor(() => store.claims.length > claims, `a claim after answer ${i + 1}`);
    }
    expect(calls).toHaveLength(4);
  });

  it("tells the store whether work arrived since its previous claim (sameWork)", async () => {
    const { engine, store, signals, calls } = slotsOf4(6, 60_000);
    engine.start();
    await waitFor(() => calls.length === 4, "four calls");
    // The first claim follows the start; the refills after answers follow no new work (the third
    // finds nothing left, and holds).
    for (let i = 0; i < 3; i++) {
      const claims = store.claims.length;
      calls[i].answer(success());
      await waitFor(() => store.claims.length > claims, `a claim after answer ${i + 1}`);
    }
    expect(store.sameWork).toEqual([false, true, true, true]);
    store.addItems(2, "batch-b");
    signals.notifyWork();
    await waitFor(() => store.claims.length === 5, "a claim after the work signal");
    expect(store.sameWork[4]).toBe(false);
  });
});
