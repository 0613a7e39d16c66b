import { afterEach, describe, expect, it, vi } from "vitest";
import { SharedSignals } from "../../../src/engine/shared-signals.js";
import type { Broadcast } from "../../../src/store/types.js";

afterEach(() => {
  vi.useRealTimers();
});

/** A broadcast channel that keeps what is published. */
function recording(): Broadcast & { sent: Record<string, unknown>[] } {
  const sent: Record<string, unknown>[] = [];
  return {
    sent,
    maxMessageBytes: 8000,
    publish: async (message) => {
      sent.push(JSON.parse(message));
    },
    subscribe: () => () => {},
    onReconnect: () => () => {},
    close: async () => {},
  };
}

describe("SharedSignals' coalescing", () => {
  it("sends a claim's change within 100 ms, and at once (10 ms) when another event joins it", async () => {
    vi.useFakeTimers();
    const channel = recording();
    const signals = new SharedSignals(channel);
    try {
      signals.notifyBatchChanged({ batchIds: ["batch_1"], transitions: [], noDeliveries: true });
      await vi.advanceTimersByTimeAsync(50);
      expect(channel.sent).toEqual([]);
      await vi.advanceTimersByTimeAsync(50);
      expect(channel.sent).toEqual([{ o: expect.any(String), b: ["batch_1"], t: [], n: 1 }]);

      // A claim's change, then an outcome's: one message, at the outcome's 10 ms.
      signals.notifyBatchChanged({ batchIds: ["batch_2"], transitions: [], noDeliveries: true });
      await vi.advanceTimersByTimeAsync(5);
      signals.notifyBatchChanged({ batchIds: ["batch_3"], transitions: [] });
      await vi.advanceTimersByTimeAsync(10);
      expect(channel.sent).toHaveLength(2);
      expect(channel.sent[1]).toEqual({ o: expect.any(String), b: ["batch_2", "batch_3"], t: [] });

      // Work is never held back by a claim's window.
      signals.notifyBatchChanged({ batchIds: ["batch_4"], transitions: [], noDeliveries: true });
      signals.notifyWork();
      await vi.advanceTimersByTimeAsync(10);
      expect(channel.sent[2]).toEqual({ o: expect.any(String), w: 1, b: ["batch_4"], t: [], n: 1 });
    } finally {
      await signals.close();
    }
  });
});
