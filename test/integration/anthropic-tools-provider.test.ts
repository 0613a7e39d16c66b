import { Ajv } from "ajv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type MockLlm, startMockLlm } from "../../src/mock-llm/server.js";
import { AnthropicProvider } from "../../src/providers/anthropic.js";
import type { ChatMessage, ModelRequest, ModelSuccess, ToolSpec } from "../../src/providers/types.js";

const never = new AbortController().signal;

const weather: ToolSpec = {
  name: "get_weather",
  description: "Current weather",
  parameters: {
    type: "object",
    properties: { city: { type: "string" }, days: { type: "integer", minimum: 1 } },
    required: ["city", "days"],
  },
};
const clock: ToolSpec = { name: "get_time", parameters: { type: "object", properties: {} } };
const ticket = {
  type: "object",
  properties: { category: { type: "string", enum: ["billing", "bug"] }, summary: { type: "string" } },
  required: ["category", "summary"],
  additionalProperties: false,
};

function expectSuccess(outcome: unknown): ModelSuccess {
  expect(outcome).toMatchObject({ kind: "success" });
  return outcome as ModelSuccess;
}

describe("the Anthropic provider with tools, structured output, thinking and cache_control", () => {
  let mock: MockLlm;
  let provider: AnthropicProvider;
  beforeAll(async () => {
    mock = await startMockLlm({ captureBodies: true });
    provider = new AnthropicProvider(
      "claude",
      { type: "anthropic", baseUrl: mock.url, apiKey: "k" },
      { timeoutMs: 10_000 },
    );
  });
  afterAll(async () => {
    await provider.close();
    await mock.close();
  });
  const lastBody = () => mock.requests.at(-1)?.body as Record<string, unknown>;

  for (const streaming of [false, true]) {
    const mode = streaming ? "streaming" : "JSON";
    const onDelta = (deltas: string[]) => (streaming ? (d: string) => deltas.push(d) : undefined);

    it(`round-trips tool_use and tool_result blocks (${mode})`, async () => {
      const deltas: string[] = [];
      const messages: ChatMessage[] = [{ role: "user", content: "get_weather and get_time in Rome" }];
      const request: ModelRequest = { model: "claude-x", messages, tools: [weather, clock] };
      const first = expectSuccess(await provider.complete(request, never, onDelta(deltas)));
      expect(first.finishReason).toBe("tool_calls");
      expect(first.toolCalls?.map((c) => c.name)).toEqual(["get_weather", "get_time"]);
      expect(first.toolCalls?.[0].id).toMatch(/^call_sim_/);
      expect(JSON.parse(first.toolCalls?.[0].arguments ?? "")).toEqual({
        city: "get_weather and get_time in Rome",
        days: 1,
      });
      expect(first.toolCalls?.[1].arguments).toBe("{}");
      expect(lastBody().tools).toEqual([
        { name: "get_weather", description: "Current weather", input_schema: weather.parameters },
        { name: "get_time", input_schema: clock.parameters },
      ]);

      const [w, t] = first.toolCalls ?? [];
      messages.push({ role: "assistant", content: "", toolCalls: first.toolCalls });
      messages.push({ role: "tool", toolCallId: w.id, content: "sunny" });
      messages.push({ role: "tool", toolCallId: t.id, content: "no clock", isError: true });
      const second = expectSuccess(await provider.complete({ ...request, messages }, never, onDelta(deltas)));
      expect(second.finishReason).toBe("stop");
      expect(second.toolCalls).toBeUndefined();
      expect(second.text).toBe(
        "Echo: get_weather and get_time in Rome\nTool results:\nget_weather: sunny\nget_time (error): no clock",
      );
      if (streaming) expect(deltas.join("")).toBe(second.text);
      expect((lastBody().messages as unknown[]).slice(1)).toEqual([
        {
          role: "assistant",
          content: [
            { type: "tool_use", id: w.id, name: "get_weather", input: JSON.parse(w.arguments) },
            { type: "tool_use", id: t.id, name: "get_time", input: {} },
          ],
        },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: w.id, content: "sunny" },
            { type: "tool_result", tool_use_id: t.id, content: "no clock", is_error: true },
          ],
        },
      ]);
    });

    it(`answers json_schema through a forced tool, its input the answer's text (${mode})`, async () => {
      const deltas: string[] = [];
      const outcome = expectSuccess(
        await provider.complete(
          {
            model: "claude-x",
            messages: [{ role: "user", content: "refund please" }],
            responseFormat: { type: "json_schema", jsonSchema: { name: "ticket", schema: ticket } },
          },
          never,
          onDelta(deltas),
        ),
      );
      expect(outcome.finishReason).toBe("stop");
      expect(outcome.toolCalls).toBeUndefined();
      expect(JSON.parse(outcome.text)).toEqual({ category: "billing", summary: "refund please" });
      expect(new Ajv().validate(ticket, JSON.parse(outcome.text))).toBe(true);
      if (streaming) expect(deltas.join("")).toBe(outcome.text);
      expect(lastBody()).toMatchObject({
        tools: [{ name: "ticket", input_schema: ticket }],
        tool_choice: { type: "tool", name: "ticket" },
      });
    });
  }

  it("answers json_object through an open-schema tool; [invalid-json] gives an object the schema refuses", async () => {
    const object = await provider.complete(
      { model: "c", messages: [{ role: "user", content: "hi" }], responseFormat: { type: "json_object" } },
      never,
    );
    // The mock fills a schema's required properties: an open object schema has none.
    expect(expectSuccess(object).text).toBe("{}");
    expect(lastBody()).toMatchObject({
      tools: [{ name: "json_response", input_schema: { type: "object", additionalProperties: true } }],
      tool_choice: { type: "tool", name: "json_response" },
    });
    const invalid = await provider.complete(
      {
        model: "c",
        messages: [{ role: "user", content: "x [invalid-json]" }],
        responseFormat: { type: "json_schema", jsonSchema: { name: "ticket", schema: ticket } },
      },
      never,
    );
    // Anthropic's tool input is always an object: the invalid answer is one missing what is required.
    expect(expectSuccess(invalid).text).toBe("{}");
    expect(new Ajv().validate(ticket, {})).toBe(false);
  });

  it("with tools and a response format, lets the model call a tool first, then answer in the schema", async () => {
    const messages: ChatMessage[] = [{ role: "user", content: "check get_weather" }];
    const request: ModelRequest = {
      model: "c",
      messages,
      tools: [weather],
      responseFormat: { type: "json_schema", jsonSchema: { name: "ticket", schema: ticket } },
    };
    const first = expectSuccess(await provider.complete(request, never));
    expect(first.toolCalls?.map((c) => c.name)).toEqual(["get_weather"]);
    expect(lastBody().tool_choice).toEqual({ type: "any", disable_parallel_tool_use: true });
    messages.push({ role: "assistant", content: "", toolCalls: first.toolCalls });
    messages.push({ role: "tool", toolCallId: first.toolCalls?.[0].id, content: "rain" });
    const second = expectSuccess(await provider.complete(request, never));
    expect(second.finishReason).toBe("stop");
    expect(new Ajv().validate(ticket, JSON.parse(second.text))).toBe(true);
  });

  it("maps tool_choice and parallel_tool_calls onto Anthropic's tool_choice", async () => {
    const base: ModelRequest = {
      model: "c",
      messages: [{ role: "user", content: "x" }],
      tools: [weather, clock],
    };
    const cases: [Partial<ModelRequest>, unknown][] = [
      [{ toolChoice: "auto" }, { type: "auto" }],
      [{ toolChoice: "required" }, { type: "any" }],
      [{ toolChoice: { name: "get_time" } }, { type: "tool", name: "get_time" }],
      [{ parallelToolCalls: false }, { type: "auto", disable_parallel_tool_use: true }],
      [
        { toolChoice: "required", parallelToolCalls: false },
        { type: "any", disable_parallel_tool_use: true },
      ],
    ];
    for (const [extra, wire] of cases) {
      expectSuccess(await provider.complete({ ...base, ...extra }, never));
      expect(lastBody().tool_choice).toEqual(wire);
    }
    const none = expectSuccess(await provider.complete({ ...base, toolChoice: "none" }, never));
    expect(lastBody().tool_choice).toEqual({ type: "none" });
    expect(none.toolCalls).toBeUndefined();
  });

  it("returns thinking blocks and sends them back with the tool calls they preceded", async () => {
    const messages: ChatMessage[] = [{ role: "user", content: "get_time" }];
    const request: ModelRequest = {
      model: "c",
      messages,
      tools: [clock],
      thinking: { type: "enabled", budgetTokens: 1024 },
    };
    for (const onDelta of [undefined, () => {}]) {
      const first = expectSuccess(
        await provider.complete({ ...request, messages: messages.slice(0, 1) }, never, onDelta),
      );
      expect(lastBody()).toMatchObject({
        thinking: { type: "enabled", budget_tokens: 1024 },
        max_tokens: 2048,
      });
      expect(first.thinking).toEqual([
        { type: "thinking", thinking: "Thinking about: get_time", signature: expect.stringMatching(/^sig_/) },
      ]);
      expect(first.toolCalls).toHaveLength(1);
      messages.splice(1, 2, {
        role: "assistant",
        content: "",
        toolCalls: first.toolCalls,
        thinking: first.thinking,
      });
      messages.push({ role: "tool", toolCallId: first.toolCalls?.[0].id, content: "noon" });
      const second = expectSuccess(await provider.complete(request, never, onDelta));
      expect(second.text).toContain("\nget_time: noon");
      expect((lastBody().messages as Array<{ content: unknown[] }>)[1].content[0]).toEqual(
        first.thinking?.[0],
      );
    }
  });

  it("sends system blocks with cache_control, user as metadata.user_id, max_completion_tokens as max_tokens", async () => {
    const outcome = await provider.complete(
      {
        model: "c",
        messages: [
          {
            role: "system",
            content: [{ type: "text", text: "long policy", cacheControl: { type: "ephemeral", ttl: "1h" } }],
          },
          { role: "user", content: "hi" },
        ],
        user: "u-9",
        maxCompletionTokens: 77,
      },
      never,
    );
    expectSuccess(outcome);
    expect(lastBody()).toMatchObject({
      system: [{ type: "text", text: "long policy", cache_control: { type: "ephemeral", ttl: "1h" } }],
      metadata: { user_id: "u-9" },
      max_tokens: 77,
    });
  });

  it("refuses what Anthropic cannot honour with a 400 naming it, without a call", async () => {
    const before = mock.requests.length;
    const ask = (extra: Partial<ModelRequest>) =>
      provider.complete({ model: "c", messages: [{ role: "user", content: "x" }], ...extra }, never);
    expect(await ask({ seed: 1, logprobs: true, metadata: { a: "b" } })).toEqual({
      kind: "failed",
      code: 400,
      message: 'provider "claude" (anthropic) cannot honour: seed, metadata, logprobs',
    });
    expect(await ask({ reasoningEffort: "high" })).toMatchObject({
      kind: "failed",
      message: expect.stringContaining("reasoningEffort"),
    });
    expect(
      await ask({
        thinking: { type: "enabled", budgetTokens: 1024 },
        responseFormat: { type: "json_object" },
      }),
    ).toMatchObject({ kind: "failed", code: 400, message: expect.stringContaining("thinking") });
    expect(
      await ask({
        tools: [weather],
        responseFormat: { type: "json_schema", jsonSchema: { name: "get_weather", schema: {} } },
      }),
    ).toMatchObject({ kind: "failed", code: 400, message: expect.stringContaining("also a tool's name") });
    expect(mock.requests.length).toBe(before);
  });
});
