import pino, { type Logger } from "pino";
import { afterEach } from "vitest";
import { HttpToolCaller } from "../../../src/agents/tools/http.js";
import type { PlannedCall, ToolOutput } from "../../../src/agents/tools/types.js";
import { defaultEngineConfig, type EngineConfig } from "../../../src/config/index.js";
import { Engine } from "../../../src/engine/engine.js";
import type { EngineMetrics } from "../../../src/engine/metrics.js";
import { LocalSignals } from "../../../src/engine/signals.js";
import { SIMULATED_CAPABILITIES } from "../../../src/providers/capabilities.js";
import { LimiterRegistry } from "../../../src/providers/rate-limiter.js";
import { ProviderRegistry } from "../../../src/providers/registry.js";
import type {
  DeltaListener,
  ModelOutcome,
  ModelProvider,
  ModelRequest,
  ModelSuccess,
} from "../../../src/providers/types.js";
import type { AgentTool } from "../../../src/store/types.js";
import { FakeStore } from "./fake-store.js";

/** Waits for a condition, polling, until a deadline (never a fixed sleep). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export type Complete = (
  request: ModelRequest,
  signal: AbortSignal,
  onDelta?: DeltaListener,
  onAnswered?: () => void,
) => Promise<ModelOutcome>;

/** A provider registry whose one provider, `fake`, answers with `complete`. */
export function fakeProviders(complete: Complete): ProviderRegistry {
  const provider: ModelProvider = {
    name: "fake",
    capabilities: SIMULATED_CAPABILITIES,
    complete,
    close: async () => {},
  };
  return new (class extends ProviderRegistry {
    override get(name: string): ModelProvider | undefined {
      return name === "fake" ? provider : undefined;
    }
  })({ fake: { type: "simulated" } } as never, { timeoutMs: 1000 });
}

export const success = (text = "ok"): ModelOutcome => ({
  kind: "success",
  text,
  usage: { promptTokens: 3, completionTokens: 5 },
  model: "fake-model-2025",
  finishReason: "stop",
});

/** Log lines a test can look at. */
export function captureLogger(): { logger: Logger; lines: { msg: string; level: number }[] } {
  const lines: { msg: string; level: number }[] = [];
  const logger = pino({ level: "debug" }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { logger, lines };
}

/** Records every metrics hook call. */
export function recordingMetrics(): EngineMetrics & { calls: unknown[]; retries: unknown[] } {
  const calls: unknown[] = [];
  const retries: unknown[] = [];
  return {
    calls,
    retries,
    upstreamCall: (r) => calls.push(r),
    itemRetried: (provider, model, code) => retries.push({ provider, model, code }),
  };
}

export interface Harness {
  engine: Engine;
  store: FakeStore;
  limiters: LimiterRegistry;
  signals: LocalSignals;
}

/** An engine over a fake store and the `fake` provider, with fast timings for tests. */
export function engineWith(
  complete: Complete,
  options: {
    store?: FakeStore;
    config?: Partial<EngineConfig>;
    maxConcurrency?: number;
    logger?: Logger;
    metrics?: EngineMetrics;
    tools?: HttpToolCaller;
  } = {},
): Harness {
  const store = options.store ?? new FakeStore();
  const limiters = new LimiterRegistry(() => ({ maxConcurrency: options.maxConcurrency }), 64);
  const signals = new LocalSignals();
  const engine = new Engine({
    store,
    providers: fakeProviders(complete),
    signals,
    config: {
      ...defaultEngineConfig,
      concurrency: 8,
      commitIntervalMs: 5,
      pollIntervalMs: 20,
      retryBaseMs: 1,
      retryMaxMs: 2,
      ...options.config,
    },
    prices: { "fake/model": { input: 1, output: 2 } },
    logger: options.logger ?? pino({ level: "silent" }),
    limiters,
    metrics: options.metrics,
    tools: options.tools,
  });
  return { engine, store, limiters, signals };
}

/** A promise and the function that settles it. */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** An http tool `lookup` (no parameters) that no test really calls: see `fakeHttpTools`. */
export const lookupTool: AgentTool = {
  type: "http",
  name: "lookup",
  description: null,
  parameters: { type: "object", properties: {} },
  url: "https://tools.invalid/lookup",
  secret: null,
  timeoutMs: null,
};

/** An http tool caller that answers every call with `answer` instead of fetching. */
export function fakeHttpTools(answer: (call: PlannedCall) => ToolOutput): HttpToolCaller {
  const http = new HttpToolCaller({ trustedOrigins: [], allowPrivateTargets: false, concurrencyPerHost: 4 });
  http.call = async (_tool, call) => answer(call);
  return http;
}

/** A model that calls `lookup` until a tool result is in the transcript, then answers with it. */
export function lookupModel(requests: ModelRequest[]) {
  return async (request: ModelRequest): Promise<ModelSuccess> => {
    requests.push(request);
    const result = request.messages.find((m) => m.role === "tool");
    const usage = { promptTokens: 10, completionTokens: 2 };
    if (result) return { kind: "success", text: `answer: ${result.content}`, usage, model: "model" };
    return {
      kind: "success",
      text: "",
      usage,
      model: "model",
      finishReason: "tool_calls",
      toolCalls: [{ id: "prov_1", name: "lookup", arguments: "{}" }],
    };
  };
}

/**
 * The engine a test of this file runs and how to answer its calls still waiting: after each test
 * those calls are answered (so that stopping does not wait on them) and the engine stopped.
 */
export function stoppedAfterEach(): { running: Engine | null; answerAll: () => void } {
  const live = { running: null as Engine | null, answerAll: () => {} };
  afterEach(async () => {
    live.answerAll();
    await live.running?.stop(100);
    live.running = null;
    live.answerAll = () => {};
  });
  return live;
}
