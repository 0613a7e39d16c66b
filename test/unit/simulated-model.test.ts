import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";
import {
  MAX_SIMULATED_LATENCY_MS,
  parseSimulatorSettings,
  SimulatedProvider,
} from "../../src/providers/simulated.js";
import { embedText, simulatedDimensions } from "../../src/providers/simulated-embeddings.js";
import { simulateTurn } from "../../src/providers/simulated-turn.js";
import { simulateToolUse } from "../../src/providers/tool-choice.js";
import type { ChatMessage, ModelRequest, ToolSpec } from "../../src/providers/types.js";

const never = new AbortController().signal;

const weather: ToolSpec = {
  name: "get_weather",
  description: "Weather in a city",
  parameters: {
    type: "object",
    properties: {
      city: { type: "string" },
      unit: { type: "string", enum: ["c", "f"] },
      days: { type: "integer", minimum: 1 },
    },
    required: ["city", "unit", "days"],
  },
};
const lookup: ToolSpec = {
  name: "lookup",
  parameters: { type: "object", properties: { query: { type: "string" } }, required: ["query"] },
};

const user = (content: string): ChatMessage => ({ role: "user", content });

/** The tool calls the simulated model makes, or undefined when it answers. */
function calls(request: Pick<ModelRequest, "messages" | "tools" | "toolChoice" | "parallelToolCalls">) {
  const use = simulateToolUse(request.messages, request.tools, request.toolChoice, request.parallelToolCalls);
  return use?.kind === "call" ? use.calls : undefined;
}

describe("the simulated model's tool use", () => {
  it("calls the first tool with arguments from its schema when the message names none", () => {
    const made = calls({ messages: [user("Paris")], tools: [weather, lookup] });
    expect(made).toEqual([
      { id: "call_sim_0", name: "get_weather", arguments: '{"city":"Paris","unit":"c","days":1}' },
    ]);
  });

  it("calls every tool the message names, or only the first without parallel calls", () => {
    const messages = [user("use lookup and get_weather please")];
    expect(calls({ messages, tools: [weather, lookup] })?.map((c) => c.name)).toEqual([
      "get_weather",
      "lookup",
    ]);
    const one = calls({ messages, tools: [weather, lookup], parallelToolCalls: false });
    expect(one?.map((c) => c.name)).toEqual(["get_weather"]);
  });

  it("honours tool_choice none and {name}, and numbers ids after the conversation's earlier calls", () => {
    const request = { messages: [user("x")], tools: [weather, lookup] };
    expect(simulateToolUse(request.messages, request.tools, "none")).toBeNull();
    expect(calls({ ...request, toolChoice: { name: "lookup" } })?.[0].name).toBe("lookup");
    const later = calls({
      messages: [
        user("a"),
        {
          role: "assistant",
          content: "",
          toolCalls: [{ id: "call_sim_0", name: "lookup", arguments: "{}" }],
        },
        { role: "tool", toolCallId: "call_sim_0", content: "r" },
        { role: "assistant", content: "done" },
        user("b"),
      ],
      tools: [lookup],
    });
    expect(later?.[0].id).toBe("call_sim_1");
  });

  it("answers quoting the results once the turn has them", () => {
    const messages: ChatMessage[] = [
      user("weather in Paris?"),
      { role: "assistant", content: "", toolCalls: [{ id: "c1", name: "get_weather", arguments: "{}" }] },
      { role: "tool", toolCallId: "c1", content: '{"temp":21}' },
    ];
    expect(simulateToolUse(messages, [weather])).toEqual({
      kind: "answer",
      text: 'Echo: weather in Paris?\nTool results:\nget_weather: {"temp":21}',
    });
    const turn = simulateTurn({ model: "echo", messages, tools: [weather] });
    expect(turn).toMatchObject({
      finishReason: "stop",
      text: 'Echo: weather in Paris?\nTool results:\nget_weather: {"temp":21}',
    });
    const failed = simulateToolUse(
      [...messages.slice(0, 2), { ...messages[2], isError: true, content: "down" }],
      [weather],
    );
    expect(failed).toMatchObject({ text: expect.stringContaining("get_weather (error): down") });
  });

  it("keeps calling untried tools under tool_choice required, then answers", () => {
    const messages: ChatMessage[] = [
      user("go"),
      { role: "assistant", content: "", toolCalls: [{ id: "c1", name: "get_weather", arguments: "{}" }] },
      { role: "tool", toolCallId: "c1", content: "sunny" },
    ];
    expect(calls({ messages, tools: [weather, lookup], toolChoice: "required" })?.[0].name).toBe("lookup");
    expect(simulateToolUse(messages, [weather], "required")?.kind).toBe("answer");
  });

  it("writes invalid arguments on [invalid-args], in the last message or always", () => {
    const bad = calls({ messages: [user("x [invalid-args]")], tools: [lookup] });
    expect(() => JSON.parse(bad?.[0].arguments ?? "")).toThrow();
    const repaired = calls({ messages: [user("x [invalid-args]"), user("fix it")], tools: [lookup] });
    expect(JSON.parse(repaired?.[0].arguments ?? "")).toEqual({ query: "fix it" });
    const always = calls({ messages: [user("x [invalid-args:always]"), user("fix it")], tools: [lookup] });
    expect(() => JSON.parse(always?.[0].arguments ?? "")).toThrow();
  });
});

describe("the simulated model's structured output", () => {
  const schema = {
    type: "object",
    properties: {
      category: { type: "string", enum: ["billing", "bug", "other"] },
      urgency: { type: "integer", minimum: 1, maximum: 5 },
      summary: { type: "string", maxLength: 40 },
      tags: { type: "array", items: { type: "string" }, minItems: 2 },
    },
    required: ["category", "urgency", "summary", "tags"],
    additionalProperties: false,
  };
  const request = (text: string): ModelRequest => ({
    model: "echo",
    messages: [user(text)],
    responseFormat: { type: "json_schema", jsonSchema: { name: "ticket", schema, strict: true } },
  });

  it("answers JSON that validates against the schema, strings from the message", () => {
    const turn = simulateTurn(request("my invoice is wrong"));
    const value = JSON.parse(turn.text);
    expect(new Ajv().validate(schema, value)).toBe(true);
    expect(value.summary).toBe("my invoice is wrong");
    expect(turn.completionTokens).toBe(Math.ceil(turn.text.length / 4));
  });

  it("answers a small object for json_object, and invalid JSON on [invalid-json]", () => {
    const object = simulateTurn({
      model: "echo",
      messages: [user("hi")],
      responseFormat: { type: "json_object" },
    });
    expect(JSON.parse(object.text)).toEqual({ echo: "hi" });
    expect(() => JSON.parse(simulateTurn(request("x [invalid-json]")).text)).toThrow();
    expect(simulateTurn({ ...request("plain"), responseFormat: { type: "text" } }).text).toBe("Echo: plain");
  });

  it("returns logprobs in OpenAI's shape when asked", () => {
    const turn = simulateTurn({
      model: "echo",
      messages: [user("hello there")],
      logprobs: true,
      topLogprobs: 2,
    });
    expect(turn.logprobs?.content?.map((t) => t.token).join("")).toBe(turn.text);
    expect(turn.logprobs?.content?.[0]).toMatchObject({
      logprob: 0,
      top_logprobs: [{ logprob: -0 }, { logprob: -2 }],
    });
  });
});

describe("the simulated provider", () => {
  const provider = new SimulatedProvider("simulated");

  it("returns tool calls with finish reason tool_calls and no text delta", async () => {
    const deltas: string[] = [];
    const outcome = await provider.complete(
      { model: "echo", messages: [user("x")], tools: [lookup] },
      never,
      (d) => deltas.push(d),
    );
    expect(outcome).toMatchObject({ kind: "success", text: "", finishReason: "tool_calls" });
    if (outcome.kind !== "success") throw new Error("expected success");
    expect(outcome.toolCalls).toEqual([{ id: "call_sim_0", name: "lookup", arguments: '{"query":"x"}' }]);
    expect(deltas).toEqual([]);
  });

  it("embeds deterministically: unit vectors, the same text the same vector, dimensions honoured", async () => {
    const outcome = await provider.embed(
      { model: "text-embedding-3-small", input: ["the cat sat", "the cat sat", "stock prices fell", ""] },
      never,
    );
    if (outcome.kind !== "success") throw new Error("expected success");
    const [a, b, c, empty] = outcome.vectors;
    expect(a).toHaveLength(1536);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    for (const v of outcome.vectors) expect(Math.hypot(...v)).toBeCloseTo(1, 10);
    expect(empty[0]).toBe(1);
    expect(outcome.usage.promptTokens).toBeGreaterThan(0);
    const short = await provider.embed({ model: "embed", input: ["x"], dimensions: 64 }, never);
    expect(short.kind === "success" && short.vectors[0]).toHaveLength(64);
    expect(simulatedDimensions("anything")).toBe(256);
  });

  it("puts texts that share words closer than texts that do not", () => {
    const dot = (x: number[], y: number[]) => x.reduce((s, v, i) => s + v * y[i], 0);
    const cat = embedText("the cat sat on the mat", 256);
    expect(dot(cat, embedText("a cat on a mat", 256))).toBeGreaterThan(
      dot(cat, embedText("quarterly revenue", 256)),
    );
  });

  it("fails embeddings like calls when told to", async () => {
    expect(await provider.embed({ model: "fail-429", input: ["x"] }, never)).toMatchObject({
      kind: "retryable",
      code: 429,
    });
  });
});

describe("simulated latency and the request timeout", () => {
  it("caps the latency a model name asks for", () => {
    expect(parseSimulatorSettings("echo?latency_ms=2000000000").latencyMs).toBe(MAX_SIMULATED_LATENCY_MS);
  });

  it("answers a call slower than the request timeout with a retryable 504 at the timeout", async () => {
    const provider = new SimulatedProvider("simulated", 30);
    const outcome = await provider.complete(
      { model: "echo?latency_ms=50000", messages: [{ role: "user", content: "hi" }] } as any,
      new AbortController().signal,
    );
    expect(outcome).toMatchObject({ kind: "retryable", code: 504 });
  });
});
