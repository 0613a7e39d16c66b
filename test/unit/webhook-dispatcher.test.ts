import pino from "pino";
import { afterEach, expect, it, vi } from "vitest";
import { webhooksSection } from "../../src/config/sections.js";
import { LocalSignals } from "../../src/engine/signals.js";
import type { Store } from "../../src/store/types.js";
import { WebhookDispatcher } from "../../src/webhooks/dispatcher.js";

afterEach(() => {
  vi.useRealTimers();
});

/**
 * The dispatcher's look at the outbox is a statement: a batch change wakes it only if the change
 * may have queued a delivery. A claim's change (`noDeliveries`) queues none, and claims were
 * most of the changes (bench/README.md, "Issue 17 on a medium machine").
 */
it("looks at the outbox for a batch change that may have queued a delivery, not for a claim's", async () => {
  vi.useFakeTimers();
  let looks = 0;
  const store = {
    outbox: {
      nextDueAt: async () => {
        looks++;
        return null;
      },
    },
  } as unknown as Store;
  const signals = new LocalSignals();
  const dispatcher = new WebhookDispatcher({
    store,
    signals,
    config: { ...webhooksSection({}, {}), pollIntervalMs: 60_000 },
    logger: pino({ level: "silent" }),
  });
  dispatcher.start();
  try {
    await vi.advanceTimersByTimeAsync(0);
    expect(looks).toBe(1); // the look at start

    signals.notifyBatchChanged({ batchIds: ["batch_1"], transitions: [], noDeliveries: true });
    await vi.advanceTimersByTimeAsync(100);
    expect(looks).toBe(1);

    // An outcome's change (request events), or a status's: a look, once the pokes' burst is over.
    signals.notifyBatchChanged({ batchIds: ["batch_1"], transitions: [] });
    await vi.advanceTimersByTimeAsync(100);
    expect(looks).toBe(2);
  } finally {
    await dispatcher.stop(0);
  }
});
