import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type MockLlm, startMockLlm } from "../../src/mock-llm/server.js";
import { AnthropicProvider } from "../../src/providers/anthropic.js";
import {
  OpenAICompatibleProvider,
  parseDurationMs,
  parseRateLimitHint,
  parseRetryAfterMs,
} from "../../src/providers/openai-compatible.js";
import { ProviderRegistry, parseModelRef } from "../../src/providers/registry.js";
import type { ModelRequest } from "../../src/providers/types.js";

const never = new AbortController().signal;
const defaults = { timeoutMs: 10_000 };

function ask(text: string, extra: Partial<ModelRequest> = {}): ModelRequest {
  return { model: "mock-model", messages: [{ role: "user", content: text }], ...extra };
}

/** A mock and a provider pointed at it, closed together. */
async function withMock<T>(
  mockOptions: Parameters<typeof startMockLlm>[0],
  providerOptions: { timeoutMs?: number },
  run: (provider: OpenAICompatibleProvider, mock: MockLlm) => Promise<T>,
): Promise<T> {
  const mock = await startMockLlm(mockOptions);
  const provider = new OpenAICompatibleProvider(
    "mock",
    { type: "openai-compatible", baseUrl: `${mock.url}/`, apiKey: "sk-test", ...providerOptions },
    defaults,
  );
  try {
    return await run(provider, mock);
  } finally {
    await provider.close();
    await mock.close();
  }
}

describe("OpenAICompatibleProvider against the mock LLM", () => {
  let mock: MockLlm;
  let provider: OpenAICompatibleProvider;

  beforeAll(async () => {
    mock = await startMockLlm({ port: 0 });
    provider = new OpenAICompatibleProvider(
      "mock",
      { type: "openai-compatible", baseUrl: mock.url },
      defaults,
    );
  });

  afterAll(async () => {
    await provider.close();
    await mock.close();
  });

  it("returns the text and the upstream's usage", async () => {
    const outcome = await provider.complete(ask("hello there", { temperature: 0, maxTokens: 50 }), never);
    expect(outcome).toMatchObject({ kind: "success", text: "Echo: hello there", model: "mock-model" });
    if (outcome.kind !== "success") throw new Error("expected success");
    expect(outcome.usage.promptTokens).toBeGreaterThan(0);
    expect(outcome.usage.completionTokens).toBeGreaterThan(0);
    expect(mock.log.at(-1)).toMatchObject({
      status: 200,
      model: "mock-model",
      lastUserMessage: "hello there",
    });
  });

  it("sends history and content parts in OpenAI's shape", async () => {
    const outcome = await provider.complete(
      {
        model: "mock-model",
        messages: [
          { role: "system", content: "be brief" },
          { role: "user", content: "earlier question" },
          { role: "assistant", content: "earlier answer" },
          {
            role: "user",
            content: [
              { type: "text", text: "describe this" },
              { type: "image", mediaType: "image/png", dataBase64: "iVBORw0KGgo=" },
            ],
          },
        ],
      },
      never,
    );
    expect(outcome).toMatchObject({
      kind: "success",
      text: "Echo: describe this\n[image] (context: 2 earlier messages)",
    });
  });

  it("streams several deltas whose join is the final text", async () => {
    const deltas: string[] = [];
    const outcome = await provider.complete(ask("stream me a reasonably long answer please"), never, (d) => {
      deltas.push(d);
    });
    if (outcome.kind !== "success") throw new Error(`expected success, got ${JSON.stringify(outcome)}`);
    expect(deltas.length).toBeGreaterThan(2);
    expect(deltas.join("")).toBe(outcome.text);
    expect(outcome.text).toBe("Echo: stream me a reasonably long answer please");
    expect(outcome.usage.completionTokens).toBeGreaterThan(0);
  });

  it("fails at once, with the upstream's message, on a request the upstream rejects", async () => {
    const outcome = await provider.complete({ model: "mock-model", messages: [] }, never);
    expect(outcome).toMatchObject({ kind: "failed", code: 400 });
    if (outcome.kind === "failed") expect(outcome.message).toContain("'messages' must be a non-empty array");
  });

  it("gives up when the caller aborts", async () => {
    const controller = new AbortController();
    controller.abort();
    expect(await provider.complete(ask("x"), controller.signal)).toMatchObject({
      kind: "retryable",
      code: 504,
      message: "aborted",
    });
  });
});

describe("OpenAICompatibleProvider failure mapping", () => {
  it("streams over the mock's latency", async () => {
    await withMock({ latencyMs: 100 }, {}, async (provider) => {
      const deltas: string[] = [];
      const outcome = await provider.complete(ask("slow stream with several words in it"), never, (d) => {
        deltas.push(d);
      });
      if (outcome.kind !== "success") throw new Error(`expected success, got ${JSON.stringify(outcome)}`);
      expect(deltas.length).toBeGreaterThan(2);
      expect(deltas.join("")).toBe(outcome.text);
    });
  });

  it("reports rate-limit headers, then a retryable 429 with a delay once the RPM is spent", async () => {
    await withMock({ rpm: 2 }, {}, async (provider, mock) => {
      const first = await provider.complete(ask("one"), never);
      expect(first).toMatchObject({ kind: "success", rateLimit: { remainingRequests: 1 } });
      expect(await provider.complete(ask("two"), never)).toMatchObject({ kind: "success" });
      const third = await provider.complete(ask("three"), never);
      expect(third).toMatchObject({ kind: "retryable", code: 429, rateLimited: true });
      if (third.kind !== "retryable") throw new Error("expected retryable");
      expect(third.retryAfterMs).toBeGreaterThan(0);
      expect(third.rateLimit?.remainingRequests).toBe(0);
      expect(third.rateLimit?.resetRequestsMs).toBeGreaterThan(0);
      expect(mock.log.map((entry) => entry.status)).toEqual([200, 200, 429]);
    });
  });

  it("answers a spent TPM with 429 too", async () => {
    await withMock({ tpm: 30 }, {}, async (provider) => {
      const outcomes = [];
      for (let i = 0; i < 4; i++)
        outcomes.push(await provider.complete(ask("a sentence of some tokens"), never));
      expect(outcomes.at(-1)).toMatchObject({ kind: "retryable", code: 429, rateLimited: true });
    });
  });

  it("maps injected 500s to retryable 502", async () => {
    await withMock({ errorRate: 1 }, {}, async (provider) => {
      const outcome = await provider.complete(ask("x"), never);
      expect(outcome).toMatchObject({ kind: "retryable", code: 502, rateLimited: false });
      if (outcome.kind === "retryable") expect(outcome.message).toContain("injected fault");
    });
  });

  it("times out as retryable 504", async () => {
    await withMock({ latencyMs: 2000 }, { timeoutMs: 100 }, async (provider) => {
      const started = Date.now();
      const outcome = await provider.complete(ask("x"), never);
      expect(outcome).toMatchObject({ kind: "retryable", code: 504, rateLimited: false });
      expect(Date.now() - started).toBeLessThan(1500);
    });
  });

  it("maps a refused connection to retryable 502", async () => {
    const mock = await startMockLlm({});
    await mock.close();
    const provider = new OpenAICompatibleProvider(
      "gone",
      { type: "openai-compatible", baseUrl: mock.url },
      defaults,
    );
    try {
      const outcome = await provider.complete(ask("x"), never);
      expect(outcome).toMatchObject({ kind: "retryable", code: 502, rateLimited: false });
    } finally {
      await provider.close();
    }
  });
});

describe("rate-limit header parsing", () => {
  it("reads OpenAI durations and bare seconds", () => {
    expect(parseDurationMs("1s")).toBe(1000);
    expect(parseDurationMs("6m0s")).toBe(360_000);
    expect(parseDurationMs("20ms")).toBe(20);
    expect(parseDurationMs("1h2m3.5s")).toBe(3_723_500);
    expect(parseDurationMs("2")).toBe(2000);
    expect(parseDurationMs("soon")).toBeUndefined();
  });

  it("prefers retry-after-ms and reads HTTP dates", () => {
    expect(parseRetryAfterMs({ "retry-after": "2", "retry-after-ms": "1500" })).toBe(1500);
    expect(parseRetryAfterMs({ "retry-after": "3" })).toBe(3000);
    const now = Date.parse("2025-01-01T00:00:00Z");
    expect(parseRetryAfterMs({ "retry-after": "Wed, 01 Jan 2025 00:00:05 GMT" }, now)).toBe(5000);
    expect(parseRetryAfterMs({})).toBeUndefined();
  });

  it("collects the x-ratelimit headers, or nothing when there are none", () => {
    expect(
      parseRateLimitHint({
        "x-ratelimit-remaining-requests": "99",
        "x-ratelimit-remaining-tokens": "1000",
        "x-ratelimit-reset-requests": "600ms",
        "x-ratelimit-reset-tokens": "1m30s",
      }),
    ).toEqual({ remainingRequests: 99, remainingTokens: 1000, resetRequestsMs: 600, resetTokensMs: 90_000 });
    expect(parseRateLimitHint({})).toBeUndefined();
  });
});

describe("ProviderRegistry", () => {
  it("parses provider/model references", () => {
    expect(parseModelRef("openai/gpt-4o-mini")).toEqual({ provider: "openai", model: "gpt-4o-mini" });
    expect(parseModelRef("local/llama3:8b")).toEqual({ provider: "local", model: "llama3:8b" });
    expect(parseModelRef("router/meta/llama")).toEqual({ provider: "router", model: "meta/llama" });
    expect(() => parseModelRef("gpt-4o-mini")).toThrow(/provider\/model/);
    expect(() => parseModelRef("/x")).toThrow(/provider\/model/);
  });

  it("builds providers on demand and reports their limits", async () => {
    const registry = new ProviderRegistry(
      {
        sim: { type: "simulated", rpm: 60 },
        openai: { type: "openai-compatible", baseUrl: "http://127.0.0.1:1/v1", tpm: 1000, maxConcurrency: 4 },
        anthropic: { type: "anthropic" },
      },
      defaults,
    );
    expect(registry.has("sim")).toBe(true);
    expect(registry.has("toString")).toBe(false);
    expect(registry.get("nope")).toBeUndefined();
    const sim = registry.get("sim");
    expect(sim).toBe(registry.get("sim"));
    expect(await sim?.complete(ask("hi", { model: "echo" }), never)).toMatchObject({ text: "Echo: hi" });
    expect(registry.get("openai")).toBeInstanceOf(OpenAICompatibleProvider);
    expect(registry.get("anthropic")).toBeInstanceOf(AnthropicProvider);
    expect(registry.limitsFor("openai")).toEqual({ rpm: undefined, tpm: 1000, maxConcurrency: 4 });
    expect(registry.limitsFor("nope")).toEqual({});
    await registry.closeAll();
  });
});
