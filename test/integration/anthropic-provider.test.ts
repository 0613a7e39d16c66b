import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type MockLlm, startMockLlm } from "../../src/mock-llm/server.js";
import { AnthropicProvider } from "../../src/providers/anthropic.js";
import { anthropicRequestBody } from "../../src/providers/anthropic-request.js";
import { simulateReply } from "../../src/providers/simulator.js";
import type { ChatMessage } from "../../src/providers/types.js";

const messages: ChatMessage[] = [
  { role: "system", content: "Be brief." },
  { role: "user", content: [{ type: "text", text: "What is 2 + 2?" }] },
];

describe("the anthropic provider against mock-llm's Messages API", () => {
  let mock: MockLlm;
  let limited: MockLlm;
  beforeAll(async () => {
    mock = await startMockLlm({ latencyMs: 20 });
    limited = await startMockLlm({ rpm: 1 });
  });
  afterAll(async () => {
    await mock.close();
    await limited.close();
  });

  const provider = (m: MockLlm) =>
    new AnthropicProvider("anth", { type: "anthropic", baseUrl: m.url, apiKey: "k" }, { timeoutMs: 5000 });

  it("sends the system prompt top-level and maps the answer, usage and stop reason", async () => {
    const body = anthropicRequestBody({ model: "claude-x", messages, maxTokens: 50, stop: ["END"] }, false);
    expect(body).toMatchObject({ system: "Be brief.", max_tokens: 50, stop_sequences: ["END"] });
    expect((body.messages as unknown[]).length).toBe(1);
    expect(anthropicRequestBody({ model: "m", messages }, false).max_tokens).toBe(1024);

    const p = provider(mock);
    const expected = simulateReply(messages);
    const outcome = await p.complete({ model: "claude-x", messages }, new AbortController().signal);
    expect(outcome).toMatchObject({
      kind: "success",
      text: expected.text,
      model: "claude-x",
      finishReason: "stop",
      usage: { promptTokens: expected.promptTokens, completionTokens: expected.completionTokens },
    });
    await p.close();
  });

  it("streams text deltas", async () => {
    const p = provider(mock);
    const deltas: string[] = [];
    const outcome = await p.complete({ model: "claude-x", messages }, new AbortController().signal, (d) =>
      deltas.push(d),
    );
    if (outcome.kind !== "success") throw new Error(JSON.stringify(outcome));
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join("")).toBe(outcome.text);
    expect(outcome.usage.completionTokens).toBe(simulateReply(messages).completionTokens);
    await p.close();
  });

  it("reads anthropic-ratelimit-* headers and turns a 429 into a retry with its retry-after", async () => {
    const p = provider(limited);
    const first = await p.complete({ model: "m", messages }, new AbortController().signal);
    expect(first.kind).toBe("success");
    if (first.kind === "success") expect(first.rateLimit?.remainingRequests).toBe(0);
    const second = await p.complete({ model: "m", messages }, new AbortController().signal);
    expect(second).toMatchObject({ kind: "retryable", code: 429, rateLimited: true });
    if (second.kind === "retryable") {
      expect(second.retryAfterMs).toBeGreaterThan(0);
      expect(second.rateLimit?.resetRequestsMs).toBeGreaterThan(0);
    }
    await p.close();
  });
});
