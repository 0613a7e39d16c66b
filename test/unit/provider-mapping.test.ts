import { describe, expect, it } from "vitest";
import { anthropicRequestBody } from "../../src/providers/anthropic-request.js";
import { readStream as readAnthropicStream, readMessage } from "../../src/providers/anthropic-response.js";
import {
  ANTHROPIC_CAPABILITIES,
  OPENAI_COMPATIBLE_CAPABILITIES,
  refusedFeatures,
  requestFeatures,
  SIMULATED_CAPABILITIES,
} from "../../src/providers/capabilities.js";
import type { ResponseBody } from "../../src/providers/http-upstream.js";
import { openAIRequestBody } from "../../src/providers/openai-request.js";
import { readStream as readOpenAIStream, usageOrEstimate } from "../../src/providers/openai-response.js";
import { ProviderRegistry } from "../../src/providers/registry.js";
import type { ChatMessage, ModelRequest, ToolSpec } from "../../src/providers/types.js";

const tool: ToolSpec = { name: "lookup", description: "Find", parameters: { type: "object" }, strict: true };

const conversation: ChatMessage[] = [
  { role: "system", content: "rules" },
  { role: "user", content: "find a and b" },
  {
    role: "assistant",
    content: "Looking.",
    toolCalls: [
      { id: "c1", name: "lookup", arguments: '{"q":"a"}' },
      { id: "c2", name: "lookup", arguments: '{"q":' },
    ],
  },
  { role: "tool", toolCallId: "c1", content: "A" },
  { role: "tool", toolCallId: "c2", content: "bad arguments", isError: true },
  { role: "user", content: "and?" },
];

/** A response body made of these chunks, as undici delivers them. */
function body(...chunks: string[]): ResponseBody {
  return Object.assign(
    (async function* () {
      for (const c of chunks) yield Buffer.from(c);
    })(),
    { text: async () => chunks.join(""), destroy: () => {}, readableEnded: true },
  );
}

describe("the OpenAI request body", () => {
  it("sends tool calls, tool results (errors marked in the text) and every passthrough field", () => {
    const request: ModelRequest = {
      model: "m",
      messages: conversation,
      tools: [tool],
      toolChoice: { name: "lookup" },
      parallelToolCalls: false,
      responseFormat: {
        type: "json_schema",
        jsonSchema: { name: "out", schema: { type: "object" }, description: "d" },
      },
      seed: 1,
      topLogprobs: 3,
      logprobs: true,
    };
    const wire = openAIRequestBody(request, false);
    expect(wire).toEqual({
      model: "m",
      messages: [
        { role: "system", content: "rules" },
        { role: "user", content: "find a and b" },
        {
          role: "assistant",
          content: "Looking.",
          tool_calls: [
            { id: "c1", type: "function", function: { name: "lookup", arguments: '{"q":"a"}' } },
            { id: "c2", type: "function", function: { name: "lookup", arguments: '{"q":' } },
          ],
        },
        { role: "tool", tool_call_id: "c1", content: "A" },
        { role: "tool", tool_call_id: "c2", content: "Error: bad arguments" },
        { role: "user", content: "and?" },
      ],
      tools: [
        {
          type: "function",
          function: { name: "lookup", description: "Find", parameters: { type: "object" }, strict: true },
        },
      ],
      tool_choice: { type: "function", function: { name: "lookup" } },
      parallel_tool_calls: false,
      response_format: {
        type: "json_schema",
        json_schema: { name: "out", schema: { type: "object" }, description: "d" },
      },
      seed: 1,
      logprobs: true,
      top_logprobs: 3,
    });
  });

  it("leaves cache_control markers out (OpenAI caches prefixes itself)", () => {
    const wire = openAIRequestBody(
      {
        model: "m",
        messages: [
          { role: "system", content: [{ type: "text", text: "s", cacheControl: { type: "ephemeral" } }] },
        ],
      },
      false,
    );
    expect(wire.messages).toEqual([{ role: "system", content: [{ type: "text", text: "s" }] }]);
  });
});

describe("the Anthropic request body", () => {
  it("merges consecutive tool results into one user turn and sends invalid arguments as {}", () => {
    const wire = anthropicRequestBody({ model: "m", messages: conversation, tools: [tool] }, false);
    expect(wire.system).toBe("rules");
    expect(wire.messages).toEqual([
      { role: "user", content: "find a and b" },
      {
        role: "assistant",
        content: [
          { type: "text", text: "Looking." },
          { type: "tool_use", id: "c1", name: "lookup", input: { q: "a" } },
          { type: "tool_use", id: "c2", name: "lookup", input: {} },
        ],
      },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "c1", content: "A" },
          { type: "tool_result", tool_use_id: "c2", content: "bad arguments", is_error: true },
        ],
      },
      { role: "user", content: "and?" },
    ]);
    // strict is Anthropic's field too (strict tool use): sent, never dropped.
    expect(wire.tools).toEqual([
      { name: "lookup", description: "Find", input_schema: { type: "object" }, strict: true },
    ]);
  });

  it("keeps only the answer tool under tool_choice none, and budgets max_tokens above thinking", () => {
    const none = anthropicRequestBody(
      {
        model: "m",
        messages: [{ role: "user", content: "x" }],
        tools: [tool],
        toolChoice: "none",
        responseFormat: { type: "json_object" },
      },
      false,
    );
    expect(none.tools).toEqual([expect.objectContaining({ name: "json_response" })]);
    expect(none.tool_choice).toEqual({ type: "tool", name: "json_response" });
    const thinking = anthropicRequestBody(
      {
        model: "m",
        messages: [{ role: "user", content: "x" }],
        thinking: { type: "enabled", budgetTokens: 5000 },
      },
      false,
    );
    expect(thinking.max_tokens).toBe(6024);
  });
});

describe("reading answers", () => {
  it("assembles OpenAI tool calls whose pieces arrive interleaved", async () => {
    const chunk = (delta: unknown, finish: string | null = null) =>
      `data: ${JSON.stringify({ model: "gpt", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    const outcome = await readOpenAIStream(
      body(
        chunk({
          role: "assistant",
          tool_calls: [{ index: 0, id: "a", type: "function", function: { name: "f", arguments: "" } }],
        }),
        chunk({
          tool_calls: [{ index: 1, id: "b", type: "function", function: { name: "g", arguments: '{"y"' } }],
        }),
        chunk({ tool_calls: [{ index: 0, function: { arguments: '{"x":' } }] }),
        chunk({ tool_calls: [{ index: 1, function: { arguments: ":2}" } }] }),
        chunk({ tool_calls: [{ index: 0, function: { arguments: "1}" } }] }),
        chunk({}, "tool_calls"),
        `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 7, prompt_tokens_details: { cached_tokens: 3 } } })}\n\n`,
        "data: [DONE]\n\n",
      ),
      { model: "m", messages: [] },
      () => {},
      undefined,
    );
    expect(outcome).toEqual({
      kind: "success",
      text: "",
      model: "gpt",
      finishReason: "tool_calls",
      usage: { promptTokens: 5, completionTokens: 7, cachedPromptTokens: 3 },
      toolCalls: [
        { id: "a", name: "f", arguments: '{"x":1}' },
        { id: "b", name: "g", arguments: '{"y":2}' },
      ],
    });
  });

  it("reads Anthropic text beside tool_use, redacted thinking and cache usage", async () => {
    const event = (type: string, data: object) =>
      `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
    const deltas: string[] = [];
    const outcome = await readAnthropicStream(
      body(
        event("message_start", {
          message: {
            model: "claude",
            usage: {
              input_tokens: 10,
              cache_read_input_tokens: 90,
              cache_creation_input_tokens: 5,
              output_tokens: 1,
            },
          },
        }),
        event("content_block_start", { index: 0, content_block: { type: "redacted_thinking", data: "xyz" } }),
        event("content_block_start", { index: 1, content_block: { type: "text", text: "" } }),
        event("content_block_delta", { index: 1, delta: { type: "text_delta", text: "Let me look." } }),
        event("content_block_start", {
          index: 2,
          content_block: { type: "tool_use", id: "t", name: "lookup", input: {} },
        }),
        event("content_block_delta", {
          index: 2,
          delta: { type: "input_json_delta", partial_json: '{"q":' },
        }),
        event("content_block_delta", { index: 2, delta: { type: "input_json_delta", partial_json: '"z"}' } }),
        event("message_delta", {
          delta: { stop_reason: "tool_use" },
          usage: { output_tokens: 20, input_tokens: null },
        }),
        event("message_stop", {}),
      ),
      { model: "m", messages: [], tools: [tool] },
      (d) => deltas.push(d),
      undefined,
    );
    expect(deltas).toEqual(["Let me look."]);
    expect(outcome).toEqual({
      kind: "success",
      text: "Let me look.",
      model: "claude",
      finishReason: "tool_calls",
      usage: { promptTokens: 105, completionTokens: 20, cachedPromptTokens: 90, cacheCreationTokens: 5 },
      toolCalls: [{ id: "t", name: "lookup", arguments: '{"q":"z"}' }],
      thinking: [{ type: "redacted_thinking", data: "xyz" }],
    });
  });

  it("takes the structured-output tool's input as the text, whatever text came before it", () => {
    const raw = JSON.stringify({
      model: "claude",
      stop_reason: "tool_use",
      content: [
        { type: "text", text: "Here it is:" },
        { type: "tool_use", id: "t", name: "ticket", input: { a: 1 } },
      ],
      usage: { input_tokens: 1, output_tokens: 2 },
    });
    const request: ModelRequest = {
      model: "m",
      messages: [],
      responseFormat: { type: "json_schema", jsonSchema: { name: "ticket", schema: {} } },
    };
    expect(readMessage(raw, request, undefined, undefined)).toMatchObject({
      text: '{"a":1}',
      finishReason: "stop",
    });
  });
});

describe("cached prompt tokens", () => {
  it("keeps the count an upstream gave, 0 included, and none when it gave none", () => {
    const request: ModelRequest = { model: "m", messages: [] };
    const usage = (details: object) =>
      usageOrEstimate({ prompt_tokens: 10, completion_tokens: 1, ...details }, request, "");
    expect(usage({ prompt_tokens_details: { cached_tokens: 4 } }).cachedPromptTokens).toBe(4);
    expect(usage({ prompt_tokens_details: { cached_tokens: 0 } }).cachedPromptTokens).toBe(0);
    expect(usage({}).cachedPromptTokens).toBeUndefined();
  });
});

describe("image detail", () => {
  const request: ModelRequest = {
    model: "m",
    messages: [
      { role: "user", content: [{ type: "image", mediaType: "image/png", dataBase64: "x", detail: "low" }] },
    ],
  };

  it("is sent to OpenAI-compatible upstreams and refused by Anthropic's", () => {
    const body = openAIRequestBody(request, false) as { messages: { content: unknown }[] };
    expect(body.messages[0].content).toEqual([
      { type: "image_url", image_url: { url: "data:image/png;base64,x", detail: "low" } },
    ]);
    expect(refusedFeatures(request, OPENAI_COMPATIBLE_CAPABILITIES)).toEqual([]);
    expect(refusedFeatures(request, ANTHROPIC_CAPABILITIES)).toEqual(["imageDetail"]);
  });
});

describe("capabilities", () => {
  const request: ModelRequest = {
    model: "m",
    messages: [
      { role: "system", content: [{ type: "text", text: "s", cacheControl: { type: "ephemeral" } }] },
      { role: "user", content: [{ type: "image", mediaType: "image/png", dataBase64: "x" }] },
      { role: "tool", toolCallId: "c", content: "r" },
    ],
    tools: [tool],
    seed: 3,
    logprobs: false,
    responseFormat: { type: "json_object" },
    thinking: { type: "disabled" },
    stop: [],
  };

  it("lists the features a request uses: values that ask for something", () => {
    expect(requestFeatures(request).sort()).toEqual(
      ["seed", "tools", "responseFormat.json_object", "images", "toolMessages", "cacheControl"].sort(),
    );
  });

  it("lists what each provider kind refuses", () => {
    expect(refusedFeatures(request, ANTHROPIC_CAPABILITIES)).toEqual(["seed"]);
    expect(
      refusedFeatures(
        { ...request, thinking: { type: "enabled", budgetTokens: 1024 } },
        OPENAI_COMPATIBLE_CAPABILITIES,
      ),
    ).toEqual(["thinking"]);
    expect(
      refusedFeatures(
        { ...request, thinking: { type: "enabled", budgetTokens: 1024 } },
        SIMULATED_CAPABILITIES,
      ),
    ).toEqual([]);
  });

  it("are known from the configuration without opening a provider", () => {
    const registry = new ProviderRegistry(
      { a: { type: "anthropic" }, o: { type: "openai-compatible" }, s: { type: "simulated" } },
      { timeoutMs: 1000 },
    );
    expect(registry.capabilities("a")?.operations.embed).toBe("refused");
    expect(registry.capabilities("o")?.operations.respond).toBe("native");
    expect(registry.capabilities("s")?.maxEmbeddingInputs).toBe(2048);
    expect(registry.capabilities("nope")).toBeUndefined();
  });
});
