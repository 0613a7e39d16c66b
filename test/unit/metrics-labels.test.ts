import { describe, expect, it, vi } from "vitest";
import { MetricLabels, Metrics } from "../../src/metrics/prometheus.js";
import type { Store } from "../../src/store/types.js";

const snapshot = {
  items: { pending: 1, processing: 0, success: 2, failed: 0 },
  queueDepth: 1,
  batches: { completed: 1 },
  webhookDeliveries: {},
};

describe("metric labels", () => {
  it("keeps configured providers and models, and counts anything else as other", () => {
    const labels = new MetricLabels({ providers: ["openai", "simulated"], models: ["openai/gpt-4o"] });
    expect(labels.provider("openai")).toBe("openai");
    expect(labels.provider("evil")).toBe("other");
    expect(labels.model("openai", "gpt-4o")).toBe("gpt-4o");
    expect(labels.model("openai", "gpt-x-123")).toBe("other");
    expect(labels.model("evil", "gpt-4o")).toBe("other");
    expect(labels.code(429)).toBe("429");
    expect(labels.code("abc")).toBe("other");
    expect(labels.code(1234)).toBe("other");
  });
});

describe("the store snapshot of /metrics", () => {
  it("is read once per TTL however many scrapes, concurrent ones included", async () => {
    vi.useFakeTimers();
    try {
      const read = vi.fn(async () => snapshot);
      const store = { metrics: { snapshot: read } } as unknown as Store;
      const metrics = new Metrics(store, { processMetrics: false, snapshotTtlMs: 5_000 });
      await Promise.all([metrics.render(), metrics.render(), metrics.render()]);
      expect(read).toHaveBeenCalledTimes(1);
      vi.advanceTimersByTime(4_000);
      await metrics.render();
      expect(read).toHaveBeenCalledTimes(1);
      vi.advanceTimersByTime(1_500);
      expect(await metrics.render()).toContain('agentbatch_items{status="success"} 2');
      expect(read).toHaveBeenCalledTimes(2);
    } finally {
      vi.useRealTimers();
    }
  });
});
