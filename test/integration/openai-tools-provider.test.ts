import { Ajv } from "ajv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type MockLlm, startMockLlm } from "../../src/mock-llm/server.js";
import { OpenAICompatibleProvider } from "../../src/providers/openai-compatible.js";
import type { ChatMessage, ModelRequest, ModelSuccess, ToolSpec } from "../../src/providers/types.js";
import { ticketSchema } from "../helpers/openai-batch.js";

const never = new AbortController().signal;

const weather: ToolSpec = {
  name: "get_weather",
  description: "Current weather",
  parameters: {
    type: "object",
    properties: { city: { type: "string" }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } },
    required: ["city", "unit"],
    additionalProperties: false,
  },
  strict: true,
};
const clock: ToolSpec = { name: "get_time", parameters: { type: "object", properties: {} } };

const ticket = ticketSchema;

function expectSuccess(outcome: unknown): ModelSuccess {
  expect(outcome).toMatchObject({ kind: "success" });
  return outcome as ModelSuccess;
}

describe("the OpenAI-compatible provider with tools, structured output, embeddings and Responses", () => {
  let mock: MockLlm;
  let provider: OpenAICompatibleProvider;

  beforeAll(async () => {
    mock = await startMockLlm({ captureBodies: true });
    provider = new OpenAICompatibleProvider(
      "mock",
      { type: "openai-compatible", baseUrl: mock.url },
      { timeoutMs: 10_000 },
    );
  });
  afterAll(async () => {
    await provider.close();
    await mock.close();
  });

  const lastBody = () => mock.requests.at(-1)?.body as Record<string, unknown>;

  for (const streaming of [false, true]) {
    it(`round-trips a tool call: asks, gets the result back, answers quoting it (${streaming ? "streaming" : "JSON"})`, async () => {
      const deltas: string[] = [];
      const onDelta = streaming ? (d: string) => deltas.push(d) : undefined;
      const messages: ChatMessage[] = [
        { role: "user", content: "weather in Paris? use get_weather and get_time" },
      ];
      const request: ModelRequest = {
        model: "mock-model",
        messages,
        tools: [weather, clock],
        toolChoice: "auto",
      };
      const first = expectSuccess(await provider.complete(request, never, onDelta));
      expect(first.finishReason).toBe("tool_calls");
      expect(first.text).toBe("");
      expect(first.toolCalls?.map((c) => c.name)).toEqual(["get_weather", "get_time"]);
      expect(JSON.parse(first.toolCalls?.[0].arguments ?? "")).toEqual({
        city: "weather in Paris? use get_weather and get_time",
        unit: "celsius",
      });
      expect(first.toolCalls?.[0].id).toMatch(/^call_/);
      expect(lastBody()).toMatchObject({
        tools: [
          {
            type: "function",
            function: { name: "get_weather", strict: true, parameters: weather.parameters },
          },
          {},
        ],
        tool_choice: "auto",
      });
      expect(deltas).toEqual([]);

      const [w, t] = first.toolCalls ?? [];
      messages.push({ role: "assistant", content: "", toolCalls: first.toolCalls });
      messages.push({ role: "tool", toolCallId: w.id, content: '{"temp":21}' });
      messages.push({ role: "tool", toolCallId: t.id, content: "clock broken", isError: true });
      const second = expectSuccess(await provider.complete({ ...request, messages }, never, onDelta));
      expect(second.finishReason).toBe("stop");
      expect(second.toolCalls).toBeUndefined();
      expect(second.text).toContain('\nget_weather: {"temp":21}');
      expect(second.text).toContain("\nget_time: Error: clock broken");
      if (streaming) expect(deltas.join("")).toBe(second.text);
      expect((lastBody().messages as unknown[]).slice(1)).toEqual([
        {
          role: "assistant",
          content: null,
          tool_calls: [
            { id: w.id, type: "function", function: { name: "get_weather", arguments: w.arguments } },
            { id: t.id, type: "function", function: { name: "get_time", arguments: t.arguments } },
          ],
        },
        { role: "tool", tool_call_id: w.id, content: '{"temp":21}' },
        { role: "tool", tool_call_id: t.id, content: "Error: clock broken" },
      ]);
    });

    it(`answers structured output that validates against the schema (${streaming ? "streaming" : "JSON"})`, async () => {
      const outcome = expectSuccess(
        await provider.complete(
          {
            model: "mock-model",
            messages: [{ role: "user", content: "my invoice is wrong" }],
            responseFormat: {
              type: "json_schema",
              jsonSchema: { name: "ticket", schema: ticket, strict: true },
            },
          },
          never,
          streaming ? () => {} : undefined,
        ),
      );
      expect(new Ajv().validate(ticket, JSON.parse(outcome.text))).toBe(true);
      expect(lastBody().response_format).toEqual({
        type: "json_schema",
        json_schema: { name: "ticket", schema: ticket, strict: true },
      });
    });
  }

  it("assembles several tool calls streamed in pieces, and honours parallel_tool_calls false", async () => {
    const request: ModelRequest = {
      model: "mock-model",
      messages: [{ role: "user", content: "get_time then get_weather for Oslo" }],
      tools: [weather, clock],
    };
    const streamed = expectSuccess(await provider.complete(request, never, () => {}));
    const whole = expectSuccess(await provider.complete(request, never));
    expect(streamed.toolCalls).toEqual(whole.toolCalls);
    expect(streamed.toolCalls).toHaveLength(2);
    const one = expectSuccess(await provider.complete({ ...request, parallelToolCalls: false }, never));
    expect(one.toolCalls).toHaveLength(1);
    expect(lastBody().parallel_tool_calls).toBe(false);
    const named = expectSuccess(
      await provider.complete({ ...request, toolChoice: { name: "get_time" } }, never),
    );
    expect(named.toolCalls?.map((c) => c.name)).toEqual(["get_time"]);
    expect(lastBody().tool_choice).toEqual({ type: "function", function: { name: "get_time" } });
  });

  it("passes the chat-completions fields through under OpenAI's names, logprobs coming back", async () => {
    const request: ModelRequest = {
      model: "mock-model",
      messages: [{ role: "user", content: "hello there" }],
      seed: 7,
      frequencyPenalty: 0.5,
      presencePenalty: -0.5,
      logprobs: true,
      topLogprobs: 2,
      user: "u-1",
      metadata: { team: "a" },
      reasoningEffort: "low",
      maxCompletionTokens: 99,
      responseFormat: { type: "json_object" },
    };
    for (const stream of [false, true]) {
      const outcome = expectSuccess(await provider.complete(request, never, stream ? () => {} : undefined));
      expect(JSON.parse(outcome.text)).toEqual({ echo: "hello there" });
      expect(outcome.logprobs?.content?.map((t) => t.token).join("")).toBe(outcome.text);
      expect(outcome.logprobs?.content?.[0].top_logprobs).toHaveLength(2);
      expect(lastBody()).toMatchObject({
        seed: 7,
        frequency_penalty: 0.5,
        presence_penalty: -0.5,
        logprobs: true,
        top_logprobs: 2,
        user: "u-1",
        metadata: { team: "a" },
        reasoning_effort: "low",
        max_completion_tokens: 99,
        response_format: { type: "json_object" },
      });
    }
  });

  it("refuses thinking with a 400 naming it, without calling the upstream", async () => {
    const before = mock.requests.length;
    const outcome = await provider.complete(
      {
        model: "mock-model",
        messages: [{ role: "user", content: "x" }],
        thinking: { type: "enabled", budgetTokens: 2048 },
      },
      never,
    );
    expect(outcome).toEqual({
      kind: "failed",
      code: 400,
      message: 'provider "mock" (openai-compatible) cannot honour: thinking',
    });
    expect(mock.requests.length).toBe(before);
  });

  it("gives the mock's invalid arguments and invalid JSON back as they came, for the repair step", async () => {
    const args = expectSuccess(
      await provider.complete(
        { model: "m", messages: [{ role: "user", content: "x [invalid-args]" }], tools: [weather] },
        never,
      ),
    );
    expect(() => JSON.parse(args.toolCalls?.[0].arguments ?? "")).toThrow();
    const json = expectSuccess(
      await provider.complete(
        {
          model: "m",
          messages: [{ role: "user", content: "x [invalid-json]" }],
          responseFormat: { type: "json_object" },
        },
        never,
      ),
    );
    expect(() => JSON.parse(json.text)).toThrow();
  });

  it("embeds several inputs in one call, as floats or base64, in input order", async () => {
    const before = mock.log.length;
    const input = ["alpha beta", "gamma", "alpha beta"];
    const floats = await provider.embed({ model: "text-embedding-3-small", input, dimensions: 32 }, never);
    const packed = await provider.embed(
      { model: "text-embedding-3-small", input, dimensions: 32, encodingFormat: "base64" },
      never,
    );
    expect(mock.log.length).toBe(before + 2);
    if (floats.kind !== "success" || packed.kind !== "success") throw new Error("expected success");
    expect(floats.vectors).toHaveLength(3);
    expect(floats.vectors[0]).toHaveLength(32);
    expect(floats.vectors[0]).toEqual(floats.vectors[2]);
    expect(Math.hypot(...floats.vectors[1])).toBeCloseTo(1, 6);
    // base64 carries float32s: equal to the floats at float32 precision.
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 32; j++) expect(packed.vectors[i][j]).toBeCloseTo(floats.vectors[i][j], 6);
    }
    expect(floats.usage.promptTokens).toBeGreaterThan(0);
    expect(lastBody()).toEqual({
      model: "text-embedding-3-small",
      input,
      dimensions: 32,
      encoding_format: "base64",
    });
    expect(await provider.embed({ model: "m", input: [] }, never)).toMatchObject({
      kind: "failed",
      code: 400,
    });
  });

  it("passes a Responses call through and reads its text and usage", async () => {
    const outcome = await provider.respond(
      {
        model: "mock-model",
        body: { model: "alias", input: "hi there", instructions: "be brief", metadata: { k: "v" } },
      },
      never,
    );
    if (outcome.kind !== "success") throw new Error(JSON.stringify(outcome));
    expect(outcome.text).toBe("Echo: hi there");
    expect(outcome.response).toMatchObject({
      object: "response",
      status: "completed",
      model: "mock-model",
      metadata: { k: "v" },
    });
    expect(outcome.usage.promptTokens).toBeGreaterThan(0);
    expect(lastBody()).toMatchObject({ model: "mock-model", input: "hi there" });
    const bad = await provider.respond({ model: "mock-model", body: { input: "x", bogus: 1 } }, never);
    expect(bad).toMatchObject({ kind: "failed", code: 400, message: expect.stringContaining("bogus") });
  });
});
