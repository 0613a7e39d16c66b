import Anthropic from "@anthropic-ai/sdk";
import { Ajv } from "ajv";
import OpenAI from "openai";
import { makeParseableResponseFormat } from "openai/lib/parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type MockLlm, startMockLlm } from "../../src/mock-llm/server.js";
import { ticketSchema } from "../helpers/openai-batch.js";

/**
 * The official SDKs, unchanged, pointed at mock-llm: proof that the mock's wire shapes (tool
 * calls, structured output, streams, embeddings, Responses) are what the SDKs parse.
 */

const weatherParameters = {
  type: "object",
  properties: { city: { type: "string" }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } },
  required: ["city", "unit"],
  additionalProperties: false,
};
const ticket = ticketSchema;

let mock: MockLlm;
let openai: OpenAI;
let anthropic: Anthropic;

beforeAll(async () => {
  mock = await startMockLlm();
  openai = new OpenAI({ baseURL: mock.url, apiKey: "sk-test", maxRetries: 0 });
  anthropic = new Anthropic({ baseURL: mock.url.replace(/\/v1$/, ""), apiKey: "k", maxRetries: 0 });
});
afterAll(async () => {
  await mock.close();
});

describe("the openai SDK against mock-llm", () => {
  const tools: OpenAI.Chat.ChatCompletionTool[] = [
    { type: "function", function: { name: "get_weather", parameters: weatherParameters, strict: true } },
  ];

  it("chat.completions.create with tools: tool calls, then an answer quoting the tool's output", async () => {
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
      { role: "user", content: "Weather in Lima?" },
    ];
    const first = await openai.chat.completions.create({ model: "gpt-4o-mini", messages, tools });
    const choice = first.choices[0];
    expect(choice.finish_reason).toBe("tool_calls");
    const call = choice.message.tool_calls?.[0];
    if (call?.type !== "function") throw new Error("expected a function call");
    expect(JSON.parse(call.function.arguments)).toEqual({ city: "Weather in Lima?", unit: "celsius" });
    messages.push(choice.message, { role: "tool", tool_call_id: call.id, content: "22C" });
    const second = await openai.chat.completions.create({ model: "gpt-4o-mini", messages, tools });
    expect(second.choices[0].finish_reason).toBe("stop");
    expect(second.choices[0].message.content).toContain("\nget_weather: 22C");
  });

  it("streams tool calls the SDK's stream helper assembles", async () => {
    const stream = openai.chat.completions.stream({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Weather in Lima?" }],
      tools,
    });
    const completion = await stream.finalChatCompletion();
    const call = completion.choices[0].message.tool_calls?.[0];
    if (call?.type !== "function") throw new Error("expected a function call");
    expect(completion.choices[0].finish_reason).toBe("tool_calls");
    expect(call.function.name).toBe("get_weather");
    expect(JSON.parse(call.function.arguments)).toEqual({ city: "Weather in Lima?", unit: "celsius" });
  });

  it("chat.completions.parse with a parseable json_schema response_format gives a parsed object", async () => {
    // The SDK's helper under zodResponseFormat, with JSON.parse for a plain JSON Schema.
    const response_format = makeParseableResponseFormat(
      { type: "json_schema", json_schema: { name: "ticket", schema: ticket, strict: true } },
      (content) => JSON.parse(content) as Record<string, unknown>,
    );
    const body = {
      model: "gpt-4o-mini",
      messages: [{ role: "user" as const, content: "the app crashes" }],
      response_format,
    };
    const whole = (await openai.chat.completions.parse(body)).choices[0].message.parsed;
    const streamed = (await openai.chat.completions.stream(body).finalChatCompletion()).choices[0].message
      .parsed;
    for (const parsed of [whole, streamed]) {
      expect(parsed).toEqual({ category: "billing", urgency: 1, summary: "the app crashes" });
      expect(new Ajv().validate(ticket, parsed)).toBe(true);
    }
  });

  it("embeddings.create, base64 by default and floats when asked", async () => {
    const packed = await openai.embeddings.create({ model: "text-embedding-3-small", input: ["a b", "c"] });
    const floats = await openai.embeddings.create({
      model: "text-embedding-3-small",
      input: ["a b", "c"],
      encoding_format: "float",
    });
    expect(packed.data).toHaveLength(2);
    expect(packed.data[0].embedding).toHaveLength(1536);
    packed.data[0].embedding.slice(0, 50).forEach((x, i) => {
      expect(x).toBeCloseTo(floats.data[0].embedding[i], 6);
    });
    expect(Math.hypot(...floats.data[1].embedding)).toBeCloseTo(1, 6);
    expect(floats.usage.prompt_tokens).toBeGreaterThan(0);
    const short = await openai.embeddings.create({ model: "e", input: "x", dimensions: 8 });
    expect(short.data[0].embedding).toHaveLength(8);
  });

  it("responses.create: output_text, function calls, and parsed structured output", async () => {
    const plain = await openai.responses.create({
      model: "gpt-4o-mini",
      instructions: "be brief",
      input: "hi",
    });
    expect(plain.output_text).toBe("Echo: hi");
    expect(plain.usage?.total_tokens).toBeGreaterThan(0);

    const responseTools: OpenAI.Responses.Tool[] = [
      { type: "function", name: "get_weather", parameters: weatherParameters, strict: true },
    ];
    const called = await openai.responses.create({
      model: "m",
      input: "Weather in Quito?",
      tools: responseTools,
    });
    const call = called.output[0];
    if (call.type !== "function_call") throw new Error("expected a function call");
    expect(JSON.parse(call.arguments)).toEqual({ city: "Weather in Quito?", unit: "celsius" });
    const answered = await openai.responses.create({
      model: "m",
      tools: responseTools,
      input: [
        { role: "user", content: "Weather in Quito?" },
        { type: "function_call", call_id: call.call_id, name: call.name, arguments: call.arguments },
        { type: "function_call_output", call_id: call.call_id, output: "14C" },
      ],
    });
    expect(answered.output_text).toContain("\nget_weather: 14C");

    const parsed = await openai.responses.parse({
      model: "m",
      input: "refund",
      text: { format: { type: "json_schema", name: "ticket", schema: ticket, strict: true } },
    });
    expect(parsed.output_parsed).toEqual({ category: "billing", urgency: 1, summary: "refund" });
  });
});

describe("the @anthropic-ai/sdk against mock-llm", () => {
  const tools: Anthropic.Tool[] = [
    {
      name: "get_weather",
      description: "Weather",
      input_schema: weatherParameters as Anthropic.Tool.InputSchema,
    },
  ];

  it("messages.create with tools: tool_use, then tool_result, then an answer", async () => {
    const messages: Anthropic.MessageParam[] = [{ role: "user", content: "Weather in Bern?" }];
    const first = await anthropic.messages.create({ model: "claude-x", max_tokens: 256, messages, tools });
    expect(first.stop_reason).toBe("tool_use");
    const use = first.content.find((b) => b.type === "tool_use");
    if (use?.type !== "tool_use") throw new Error("expected tool_use");
    expect(use.input).toEqual({ city: "Weather in Bern?", unit: "celsius" });
    messages.push(
      { role: "assistant", content: first.content },
      { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "5C" }] },
    );
    const second = await anthropic.messages.create({ model: "claude-x", max_tokens: 256, messages, tools });
    expect(second.stop_reason).toBe("end_turn");
    const text = second.content[0];
    expect(text.type === "text" && text.text).toContain("\nget_weather: 5C");
  });

  it("streams tool_use input and thinking that the SDK's stream helper assembles", async () => {
    const stream = anthropic.messages.stream({
      model: "claude-x",
      max_tokens: 4096,
      thinking: { type: "enabled", budget_tokens: 1024 },
      messages: [{ role: "user", content: "Weather in Bern?" }],
      tools,
    });
    const message = await stream.finalMessage();
    expect(message.content.map((b) => b.type)).toEqual(["thinking", "tool_use"]);
    const [thinking, use] = message.content;
    expect(thinking.type === "thinking" && thinking.thinking).toBe("Thinking about: Weather in Bern?");
    expect(use.type === "tool_use" && use.input).toEqual({ city: "Weather in Bern?", unit: "celsius" });
  });

  it("a forced tool answers structured output, as the Anthropic provider asks for it", async () => {
    const message = await anthropic.messages.create({
      model: "claude-x",
      max_tokens: 256,
      messages: [{ role: "user", content: "charged twice" }],
      tools: [{ name: "ticket", input_schema: ticket as Anthropic.Tool.InputSchema }],
      tool_choice: { type: "tool", name: "ticket" },
    });
    const use = message.content[0];
    expect(use.type === "tool_use" && use.input).toEqual({
      category: "billing",
      urgency: 1,
      summary: "charged twice",
    });
  });

  it("refuses an unknown field as Anthropic does", async () => {
    await expect(
      anthropic.messages.create({
        model: "claude-x",
        max_tokens: 10,
        messages: [{ role: "user", content: "x" }],
        seed: 1,
      } as Anthropic.MessageCreateParamsNonStreaming),
    ).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining("seed: Extra inputs are not permitted"),
    });
  });
});

describe("mock-llm's listen backlog", () => {
  it("answers as without it when one is set (benches with thousands of connections at once)", async () => {
    const wide = await startMockLlm({ backlog: 4096 });
    try {
      const client = new OpenAI({ baseURL: wide.url, apiKey: "sk-test", maxRetries: 0 });
      const answer = await client.chat.completions.create({
        model: "mock-model",
        messages: [{ role: "user", content: "hello" }],
      });
      expect(typeof answer.choices[0].message.content).toBe("string");
      expect(wide.log).toHaveLength(1);
    } finally {
      await wide.close();
    }
  });
});
