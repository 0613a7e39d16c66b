import pino from "pino";
import { expect, it } from "vitest";
import { defaultEngineConfig } from "../../../src/config/index.js";
import { Engine } from "../../../src/engine/engine.js";
import { LocalSignals } from "../../../src/engine/signals.js";
import { LimiterRegistry } from "../../../src/providers/rate-limiter.js";
import { ProviderRegistry } from "../../../src/providers/registry.js";
import type { ModelProvider } from "../../../src/providers/types.js";
import { FakeStore } from "./fake-store.js";

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

it("gives the rate-limit permit back when the provider throws (batch path)", async () => {
  const store = new FakeStore();
  // One permit at a time: a leaked permit would stall the second item for good.
  const ids = store.addItems(2);
  const provider: ModelProvider = {
    name: "fake",
    complete: async () => {
      throw new Error("provider bug");
    },
    close: async () => {},
  };
  const providers = new (class extends ProviderRegistry {
    override get() {
      return provider;
    }
  })({ fake: { type: "simulated" } } as never, { timeoutMs: 1000 });
  const limiters = new LimiterRegistry(() => ({ maxConcurrency: 1 }), 4);
  const engine = new Engine({
    store,
    providers,
    signals: new LocalSignals(),
    config: { ...defaultEngineConfig, commitIntervalMs: 5, pollIntervalMs: 20 },
    prices: {},
    logger: pino({ level: "silent" }),
    limiters,
  });
  engine.start();
  try {
    await waitFor(() => store.committed.length === 2, "both items' outcomes to be committed");
    expect(store.committed.map((o) => [o.itemId, o.kind])).toEqual(ids.map((id) => [id, "failed"]));
    expect(limiters.get("fake").running).toBe(0);
  } finally {
    await engine.stop(100);
  }
});
