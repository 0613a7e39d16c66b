import type OpenAI from "openai";
import { makeParseableResponseFormat, parseChatCompletion } from "openai/lib/parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type OpenAIBatchServer,
  runOpenAIBatch,
  startOpenAIBatchServer,
  ticketSchema,
  weatherParameters,
} from "../helpers/openai-batch.js";

/**
 * The OpenAI batch shape with every chat-completions field a provider can honour: each output
 * line, parsed back with the official SDK, matches a direct call to mock-llm with the same body.
 */

const weatherTool: OpenAI.Chat.ChatCompletionFunctionTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Weather in a city",
    parameters: weatherParameters,
    strict: true,
  },
};

let server: OpenAIBatchServer;
let client: OpenAI;
let direct: OpenAI;

beforeAll(async () => {
  server = await startOpenAIBatchServer({ "sim-mini": "simulated/gpt-4o-mini" });
  ({ client, direct } = server);
});
afterAll(async () => server?.close());

/** What a completion says, without the fields that differ by call (ids, timestamps). */
function gist(c: OpenAI.Chat.ChatCompletion) {
  const choice = c.choices[0];
  return {
    model: c.model,
    message: {
      role: choice.message.role,
      content: choice.message.content,
      tool_calls: choice.message.tool_calls,
    },
    logprobs: choice.logprobs,
    finish_reason: choice.finish_reason,
    usage: c.usage,
  };
}

describe("chat-completions fields through the OpenAI batch shape", () => {
  it("json_schema (the SDK's helper), tools and logprobs lines match direct calls and parse with the SDK", async () => {
    const response_format = makeParseableResponseFormat(
      { type: "json_schema", json_schema: { name: "ticket", schema: ticketSchema, strict: true } },
      (content) => JSON.parse(content) as Record<string, unknown>,
    );
    const schemaBody = {
      model: "gpt-4o-mini",
      messages: [{ role: "user" as const, content: "the app crashes" }],
      response_format,
      seed: 7,
      max_completion_tokens: 200,
      metadata: { team: "support" },
      user: "u-1",
    };
    const toolsBody = {
      model: "gpt-4o-mini",
      messages: [{ role: "user" as const, content: "Weather in Lima?" }],
      tools: [weatherTool],
      tool_choice: "auto" as const,
      parallel_tool_calls: false,
      frequency_penalty: 0.5,
      presence_penalty: 0.1,
      reasoning_effort: "low" as const,
    };
    const toolResultBody = {
      model: "gpt-4o-mini",
      messages: [
        { role: "user" as const, content: "Weather in Lima?" },
        {
          role: "assistant" as const,
          content: null,
          tool_calls: [
            {
              id: "call_1",
              type: "function" as const,
              function: { name: "get_weather", arguments: '{"city":"Lima","unit":"celsius"}' },
            },
          ],
        },
        { role: "tool" as const, tool_call_id: "call_1", content: "22C" },
      ],
      tools: [weatherTool],
    };
    const logprobsBody = {
      model: "gpt-4o-mini",
      messages: [{ role: "user" as const, content: "count words" }],
      logprobs: true,
      top_logprobs: 2,
    };
    const bodies = {
      schema: schemaBody,
      tools: toolsBody,
      toolResult: toolResultBody,
      logprobs: logprobsBody,
    };
    const run = await runOpenAIBatch(
      client,
      "/v1/chat/completions",
      Object.entries(bodies).flatMap(([custom_id, body]) => [
        { custom_id, body: JSON.parse(JSON.stringify(body)) },
        // The same line on the built-in simulated model, which answers as mock-llm does.
        { custom_id: `sim-${custom_id}`, body: JSON.parse(JSON.stringify({ ...body, model: "sim-mini" })) },
      ]),
    );
    expect(run.batch.status).toBe("completed");
    expect(run.batch.request_counts).toEqual({ total: 8, completed: 8, failed: 0 });
    for (const [id, body] of Object.entries(bodies)) {
      const line = run.output.get(id);
      expect(line.response.status_code).toBe(200);
      const wanted = await direct.chat.completions.create(
        body as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming,
      );
      expect(gist(line.response.body), id).toEqual(gist(wanted));
      expect(gist(run.output.get(`sim-${id}`).response.body), `sim-${id}`).toEqual(gist(wanted));
    }
    const parsed = parseChatCompletion(run.output.get("schema").response.body, schemaBody);
    expect(parsed.choices[0].message.parsed).toEqual({
      category: "billing",
      urgency: 1,
      summary: "the app crashes",
    });
    const toolLine = run.output.get("tools").response.body as OpenAI.Chat.ChatCompletion;
    expect(toolLine.choices[0].finish_reason).toBe("tool_calls");
    const call = toolLine.choices[0].message.tool_calls?.[0];
    if (call?.type !== "function") throw new Error("expected a function tool call");
    expect(call.function.name).toBe("get_weather");
    expect(JSON.parse(call.function.arguments)).toEqual({ city: "Weather in Lima?", unit: "celsius" });
    expect(run.output.get("toolResult").response.body.choices[0].message.content).toContain("22C");
    expect(run.output.get("logprobs").response.body.choices[0].logprobs.content.length).toBeGreaterThan(0);
  });

  it("translates tools and json_schema for an Anthropic provider, and fails only the line with a field it cannot honour", async () => {
    const run = await runOpenAIBatch(client, "/v1/chat/completions", [
      {
        custom_id: "tools",
        body: {
          model: "claude-haiku",
          messages: [{ role: "user", content: "Weather in Lima?" }],
          tools: [weatherTool],
        },
      },
      {
        custom_id: "schema",
        body: {
          model: "claude-haiku",
          messages: [{ role: "user", content: "the app crashes" }],
          response_format: { type: "json_schema", json_schema: { name: "ticket", schema: ticketSchema } },
          max_tokens: 300,
        },
      },
      {
        custom_id: "seeded",
        body: { model: "claude-haiku", messages: [{ role: "user", content: "hi" }], seed: 1, logprobs: true },
      },
    ]);
    expect(run.batch.status).toBe("completed");
    expect(run.batch.request_counts).toEqual({ total: 3, completed: 2, failed: 1 });
    const tools = run.output.get("tools").response.body as OpenAI.Chat.ChatCompletion;
    expect(tools.choices[0].finish_reason).toBe("tool_calls");
    const call = tools.choices[0].message.tool_calls?.[0];
    if (call?.type !== "function") throw new Error("expected a function tool call");
    expect(call.id).toMatch(/^toolu_|^call_/);
    expect(JSON.parse(call.function.arguments)).toEqual({ city: "Weather in Lima?", unit: "celsius" });
    const schema = run.output.get("schema").response.body as OpenAI.Chat.ChatCompletion;
    expect(schema.choices[0].finish_reason).toBe("stop");
    expect(JSON.parse(schema.choices[0].message.content as string)).toEqual({
      category: "billing",
      urgency: 1,
      summary: "the app crashes",
    });
    const refused = run.errors.get("seeded");
    expect(refused.response.status_code).toBe(400);
    expect(refused.error.message).toContain("seed");
    expect(refused.error.message).toContain("logprobs");
    expect(refused.error.message).toContain("mockant");
  });

  it("fails the batch on a line whose field agentbatch cannot run anywhere, naming it", async () => {
    const run = await runOpenAIBatch(client, "/v1/chat/completions", [
      {
        custom_id: "a",
        body: { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], audio: { voice: "x" } },
      },
      {
        custom_id: "b",
        body: { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], tools: [{ type: "web" }] },
      },
      {
        custom_id: "c",
        body: { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], made_up: 1 },
      },
    ]);
    expect(run.batch.status).toBe("failed");
    expect(run.batch.errors?.data?.map((e) => e.param)).toEqual([
      "body.audio",
      "body.tools[0]",
      "body.made_up",
    ]);
  });

  it("fails the batch on an unknown key inside a message, or a documented one no provider here is sent, naming it", async () => {
    const line = (custom_id: string, messages: unknown[]) => ({
      custom_id,
      body: { model: "gpt-4o-mini", messages },
    });
    const run = await runOpenAIBatch(client, "/v1/chat/completions", [
      line("unknown", [{ role: "user", content: "hi", foo: 1 }]),
      line("named", [
        { role: "system", content: "be brief" },
        { role: "user", content: "hi", name: "ann" },
      ]),
      line("refusal", [
        { role: "user", content: "hi" },
        { role: "assistant", content: null, refusal: "I cannot" },
        { role: "user", content: "again" },
      ]),
      line("tool-key", [
        { role: "user", content: "hi" },
        {
          role: "assistant",
          tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }],
        },
        { role: "tool", tool_call_id: "c1", content: "ok", name: "f" },
      ]),
      line("call-key", [
        { role: "user", content: "hi" },
        {
          role: "assistant",
          tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}", x: 1 } }],
        },
        { role: "tool", tool_call_id: "c1", content: "ok" },
      ]),
    ]);
    expect(run.batch.status).toBe("failed");
    const errors = run.batch.errors?.data ?? [];
    expect(errors.map((e) => [e.line, e.param])).toEqual([
      [1, "body.messages[0].foo"],
      [2, "body.messages[1].name"],
      [3, "body.messages[1].refusal"],
      [4, "body.messages[2].name"],
      [5, "body.messages[1].tool_calls[0].function.x"],
    ]);
    expect(errors[0].message).toContain("body.messages[0].foo");
    expect(errors[1].message).toContain("not supported by agentbatch");
  });

  it("fails the batch on an unknown key inside a content part or a nested object, or a part no provider is sent, naming its path", async () => {
    const image = { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } };
    const line = (custom_id: string, extra: Record<string, unknown>, content: unknown = "hi") => ({
      custom_id,
      body: { model: "gpt-4o-mini", messages: [{ role: "user", content }], ...extra },
    });
    const run = await runOpenAIBatch(client, "/v1/chat/completions", [
      line("text-part", {}, [
        { type: "text", text: "a" },
        { type: "text", text: "b", detail_x: 1 },
      ]),
      line("image-key", {}, [{ ...image, image_url: { ...image.image_url, size: "big" } }]),
      line("audio", {}, [{ type: "input_audio", input_audio: { data: "AAAA", format: "wav" } }]),
      line("tool-fn", { tools: [{ ...weatherTool, function: { ...weatherTool.function, examples: [] } }] }),
      line("schema", {
        response_format: { type: "json_schema", json_schema: { name: "t", schema: ticketSchema, extra: 1 } },
      }),
    ]);
    expect(run.batch.status).toBe("failed");
    const errors = run.batch.errors?.data ?? [];
    expect(errors.map((e) => [e.line, e.param])).toEqual([
      [1, "body.messages[0].content[1].detail_x"],
      [2, "body.messages[0].content[0].image_url.size"],
      [3, "body.messages[0].content[0].type"],
      [4, "body.tools[0].function.examples"],
      [5, "body.response_format.json_schema.extra"],
    ]);
    expect(errors[0].message).toBe(
      "Unrecognized request argument supplied: body.messages[0].content[1].detail_x",
    );
    expect(errors[2].message).toContain("input_audio parts are not supported");
  });

  it("sends image_url.detail to an OpenAI-compatible provider and fails the line on an Anthropic one, naming it", async () => {
    const content = [
      { type: "text", text: "what is this?" },
      { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=", detail: "low" } },
    ];
    const auto = [content[0], { ...content[1], image_url: { ...content[1].image_url, detail: "auto" } }];
    const run = await runOpenAIBatch(client, "/v1/chat/completions", [
      { custom_id: "oai", body: { model: "gpt-4o-mini", messages: [{ role: "user", content }] } },
      { custom_id: "ant", body: { model: "claude-haiku", messages: [{ role: "user", content }] } },
      { custom_id: "ant-auto", body: { model: "claude-haiku", messages: [{ role: "user", content: auto }] } },
    ]);
    expect(run.batch.request_counts).toEqual({ total: 3, completed: 2, failed: 1 });
    expect(run.output.get("oai").response.status_code).toBe(200);
    expect(run.output.get("ant-auto").response.status_code).toBe(200);
    const refused = run.errors.get("ant");
    expect(refused.response.status_code).toBe(400);
    expect(refused.error.message).toContain("image_url.detail");
    expect(refused.error.message).toContain("mockant");
  });

  it("runs messages carrying every key OpenAI documents for their role (unset where not carried)", async () => {
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
      { role: "developer", content: "be brief", name: null as unknown as undefined },
      { role: "system", content: "really brief" },
      { role: "user", content: [{ type: "text", text: "Weather in Lima?" }] },
      {
        role: "assistant",
        content: null,
        refusal: null,
        audio: null,
        function_call: null,
        tool_calls: [
          { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Lima"}' } },
        ],
      },
      { role: "tool", tool_call_id: "call_1", content: "sunny" },
    ];
    const run = await runOpenAIBatch(client, "/v1/chat/completions", [
      { custom_id: "all", body: { model: "gpt-4o-mini", messages, tools: [weatherTool] } },
    ]);
    expect(run.batch.status, JSON.stringify(run.batch.errors)).toBe("completed");
    expect(run.output.get("all").response.status_code).toBe(200);
  });
});
