import { describe, expect, it } from "vitest";
import { EmbeddingBatcher } from "../../../src/agents/embedding-batcher.js";
import { SIMULATED_CAPABILITIES } from "../../../src/providers/capabilities.js";
import { LimiterRegistry } from "../../../src/providers/rate-limiter.js";
import type { EmbeddingOutcome, EmbeddingRequest, ModelProvider } from "../../../src/providers/types.js";

/** A provider whose embed answers [index, length] per input and records every call. */
function fakeProvider(maxInputs: number, fail = false) {
  const calls: EmbeddingRequest[] = [];
  const provider: ModelProvider = {
    name: "fake",
    capabilities: { ...SIMULATED_CAPABILITIES, maxEmbeddingInputs: maxInputs },
    complete: async () => ({ kind: "failed", code: 400, message: "no chat" }),
    embed: async (request): Promise<EmbeddingOutcome> => {
      calls.push(request);
      if (fail) return { kind: "retryable", code: 429, message: "slow down", rateLimited: true };
      return {
        kind: "success",
        vectors: request.input.map((text) => [text.length]),
        usage: { promptTokens: 100 },
        model: request.model,
      };
    },
    close: async () => {},
  };
  return { provider, calls };
}

function deps(provider: ModelProvider) {
  const limiters = new LimiterRegistry(() => ({}), 8);
  return { provider, providerName: "fake", limiter: limiters.get("fake"), limiters };
}

const req = (input: string[], model = "m"): EmbeddingRequest => ({ model, input });

describe("EmbeddingBatcher", () => {
  it("joins concurrent lines into one call and hands each its own vectors and a share of the tokens", async () => {
    const { provider, calls } = fakeProvider(2048);
    const d = deps(provider);
    const batcher = new EmbeddingBatcher(5);
    const signal = new AbortController().signal;
    const outs = await Promise.all([
      batcher.embed(d, req(["a", "bb"]), signal),
      batcher.embed(d, req(["cccc"]), signal),
      batcher.embed(d, req(["dddddddd"]), signal),
      batcher.embed(d, req(["other"], "m2"), signal),
    ]);
    expect(calls.map((c) => c.input)).toEqual([["a", "bb", "cccc", "dddddddd"], ["other"]]);
    const vectors = outs.map((o) => (o?.kind === "success" ? o.vectors : null));
    expect(vectors).toEqual([[[1], [2]], [[4]], [[8]], [[5]]]);
    const tokens = outs.slice(0, 3).map((o) => (o?.kind === "success" ? o.usage.promptTokens : 0));
    expect(tokens.reduce((a, b) => a + b, 0)).toBe(100);
    expect(d.limiter.running).toBe(0);
  });

  it("sends a full group at once and starts another, never over the provider's input limit", async () => {
    const { provider, calls } = fakeProvider(3);
    const batcher = new EmbeddingBatcher(10_000);
    const d = deps(provider);
    const signal = new AbortController().signal;
    const outs = await Promise.all([
      batcher.embed(d, req(["a", "b"]), signal),
      batcher.embed(d, req(["c"]), signal),
      batcher.embed(d, req(["d", "e"]), signal),
      batcher.embed(d, req(["f"]), signal),
    ]);
    expect(calls.map((c) => c.input)).toEqual([
      ["a", "b", "c"],
      ["d", "e", "f"],
    ]);
    expect(outs.every((o) => o?.kind === "success")).toBe(true);
  });

  it("leaves out a line stopped before its group is sent, and gives every line the group's failure", async () => {
    const { provider, calls } = fakeProvider(2048, true);
    const d = deps(provider);
    const batcher = new EmbeddingBatcher(20);
    const stop = new AbortController();
    const stopped = batcher.embed(d, req(["x"]), stop.signal);
    const kept = batcher.embed(d, req(["y"]), new AbortController().signal);
    stop.abort();
    expect(await stopped).toBeNull();
    expect(await kept).toMatchObject({ kind: "retryable", code: 429 });
    expect(calls.map((c) => c.input)).toEqual([["y"]]);
    expect(d.limiter.running).toBe(0);
  });

  it("sends each line alone when the shared call is refused, so only the line the upstream refuses fails", async () => {
    const { provider, calls } = fakeProvider(2048);
    const embed = provider.embed?.bind(provider);
    provider.embed = async (request, signal): Promise<EmbeddingOutcome> => {
      if (!request.input.includes("bad")) return (embed as NonNullable<typeof embed>)(request, signal);
      calls.push(request);
      return { kind: "failed", code: 400, message: "input too long" };
    };
    const d = deps(provider);
    const batcher = new EmbeddingBatcher(5);
    const signal = new AbortController().signal;
    const outs = await Promise.all([
      batcher.embed(d, req(["ok"]), signal),
      batcher.embed(d, req(["bad"]), signal),
      batcher.embed(d, req(["fine"]), signal),
    ]);
    expect(outs.map((o) => o?.kind)).toEqual(["success", "failed", "success"]);
    expect(calls[0].input).toEqual(["ok", "bad", "fine"]);
    expect(
      calls
        .slice(1)
        .map((c) => c.input)
        .sort(),
    ).toEqual([["bad"], ["fine"], ["ok"]]);
    expect(d.limiter.running).toBe(0);
  });
});
