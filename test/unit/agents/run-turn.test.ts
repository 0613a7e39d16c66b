import { expect, it } from "vitest";
import type { UpstreamCallReport } from "../../../src/agents/metrics.js";
import { runTurn, type TurnDeps } from "../../../src/agents/run-turn.js";
import { LimiterRegistry } from "../../../src/providers/rate-limiter.js";
import type { AgentConfig } from "../../../src/store/types.js";
import { type Complete, fakeProviders, success } from "../engine/harness.js";

const agent: AgentConfig = {
  model: "fake/model",
  systemPrompt: "be brief",
  temperature: null,
  maxTokens: null,
  settings: {},
};
const turn = { agent, message: "hello", history: [] };

function deps(
  complete: Complete,
  maxConcurrency = 1,
): Omit<TurnDeps, "limiters"> & { reports: UpstreamCallReport[]; limiters: LimiterRegistry } {
  const reports: UpstreamCallReport[] = [];
  return {
    providers: fakeProviders(complete),
    limiters: new LimiterRegistry(() => ({ maxConcurrency }), 8),
    metrics: { upstreamCall: (r) => reports.push(r) },
    reports,
  };
}

it("gives the permit back and reports the call when the provider throws, then passes the error on", async () => {
  const d = deps(async () => {
    throw new Error("provider bug");
  });
  await expect(runTurn(d, turn, { signal: new AbortController().signal })).rejects.toThrow("provider bug");
  expect(d.limiters.get("fake").running).toBe(0);
  expect(d.reports).toMatchObject([
    { provider: "fake", model: "model", outcome: "failed", rateLimited: false },
  ]);
});

it("returns aborted, calling nothing, when stopped while waiting for a permit", async () => {
  let calls = 0;
  const d = deps(async () => {
    calls++;
    return success();
  });
  const held = await d.limiters.get("fake").acquire(1, new AbortController().signal);
  const abort = new AbortController();
  const result = runTurn(d, turn, { signal: abort.signal });
  abort.abort();
  expect(await result).toEqual({ kind: "aborted" });
  held.release(null);
  expect(calls).toBe(0);
  expect(d.reports).toEqual([]);
  expect(d.limiters.get("fake").running).toBe(0);
});

it("returns the reply with one usage entry per model call, under the reply's model name", async () => {
  const d = deps(async (request) => {
    expect(request.messages.map((m) => m.role)).toEqual(["system", "user"]);
    return success("hi");
  });
  let started = 0;
  const result = await runTurn(d, turn, {
    signal: new AbortController().signal,
    onCallStart: () => started++,
  });
  expect(result).toMatchObject({
    kind: "success",
    upstream: { provider: "fake", model: "model" },
    text: "hi",
    model: "fake-model-2025",
    finishReason: "stop",
    calls: [{ model: "fake-model-2025", callType: "llm_call", promptTokens: 3, completionTokens: 5 }],
  });
  expect(started).toBe(1);
  expect(d.limiters.get("fake").running).toBe(0);
});

it("fails a turn whose model names no configured provider with 400, taking no permit", async () => {
  const d = deps(async () => success());
  const result = await runTurn(
    d,
    { ...turn, agent: { ...agent, model: "nope/model" } },
    {
      signal: new AbortController().signal,
    },
  );
  expect(result).toMatchObject({ kind: "failed", code: 400, upstream: null });
});
