import { describe, expect, it } from "vitest";
import { refusalMessage } from "../../../src/agents/request-turn.js";
import { chatRequestOfResponses, responseOfChat } from "../../../src/agents/responses-via-chat.js";
import {
  ANTHROPIC_CAPABILITIES,
  OPENAI_COMPATIBLE_CAPABILITIES,
} from "../../../src/providers/capabilities.js";
import { messagesRequest, ParamsError } from "../../../src/server/batch-apis/anthropic-params.js";
import { chatParams } from "../../../src/server/batch-apis/openai-chat-params.js";
import { embeddingsParams, responsesParams } from "../../../src/server/batch-apis/openai-endpoint-params.js";
import { LineError } from "../../../src/server/batch-apis/openai-line-error.js";

const user = [{ role: "user", content: "hi" }];
const route = (model: string) => ({ ok: true as const, model: `simulated/${model}` });

function lineError(fn: () => unknown): LineError {
  try {
    fn();
  } catch (err) {
    if (err instanceof LineError) return err;
    throw err;
  }
  throw new Error("expected a LineError");
}

describe("OpenAI chat-completions params", () => {
  it("accepts fields it does not send only with a value that asks for nothing, else names them", () => {
    for (const noOp of [
      { store: false },
      { service_tier: "auto" },
      { service_tier: "default" },
      { store: null },
    ]) {
      expect(() => chatParams({ messages: user, ...noOp }, "simulated/m", "m")).not.toThrow();
    }
    for (const [field, value] of [
      ["store", true],
      ["service_tier", "flex"],
      ["prompt_cache_key", "k"],
      ["prompt_cache_retention", "24h"],
      ["stream_options", { include_usage: true }],
    ] as const) {
      const err = lineError(() => chatParams({ messages: user, [field]: value }, "simulated/m", "m"));
      expect(err.param).toBe(`body.${field}`);
    }
  });

  it("keeps every field a provider can honour, translated to the neutral request", () => {
    const r = chatParams(
      {
        messages: [
          { role: "developer", content: "be brief" },
          { role: "user", content: "weather?" },
          {
            role: "assistant",
            content: null,
            tool_calls: [{ id: "c1", type: "function", function: { name: "w", arguments: "{}" } }],
          },
          { role: "tool", tool_call_id: "c1", content: "22C" },
        ],
        tools: [{ type: "function", function: { name: "w", parameters: { type: "object" }, strict: true } }],
        tool_choice: { type: "function", function: { name: "w" } },
        parallel_tool_calls: false,
        response_format: { type: "json_schema", json_schema: { name: "t", schema: { type: "object" } } },
        seed: 3,
        logprobs: true,
        top_logprobs: 2,
        frequency_penalty: 1,
        presence_penalty: -1,
        user: "u",
        metadata: { a: "b" },
        max_completion_tokens: 10,
        reasoning_effort: "low",
        store: false,
      },
      "simulated/m",
      "m",
    );
    expect(r).toMatchObject({
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "weather?" },
        { role: "assistant", content: "", toolCalls: [{ id: "c1", name: "w", arguments: "{}" }] },
        { role: "tool", toolCallId: "c1", content: "22C" },
      ],
      tools: [{ name: "w", parameters: { type: "object" }, strict: true }],
      toolChoice: { name: "w" },
      parallelToolCalls: false,
      responseFormat: { type: "json_schema", jsonSchema: { name: "t", schema: { type: "object" } } },
      seed: 3,
      logprobs: true,
      topLogprobs: 2,
      frequencyPenalty: 1,
      presencePenalty: -1,
      user: "u",
      metadata: { a: "b" },
      maxCompletionTokens: 10,
      reasoningEffort: "low",
    });
    expect(r).not.toHaveProperty("store");
  });

  it("names the field of every line it cannot take", () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ top_logprobs: 2 }, "body.top_logprobs"],
      [
        { tool_choice: { type: "function", function: { name: "nope" } }, tools: [] },
        "body.tool_choice.function.name",
      ],
      [
        { response_format: { type: "json_schema", json_schema: {} } },
        "body.response_format.json_schema.name",
      ],
      [
        { metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, "v"])) },
        "body.metadata",
      ],
      [{ reasoning_effort: "max" }, "body.reasoning_effort"],
      [{ functions: [{}] }, "body.functions"],
      [{ n: 2 }, "body.n"],
      [{ made_up: true }, "body.made_up"],
      [{ messages: [{ role: "tool", content: "x" }] }, "body.messages[0].tool_call_id"],
      [{ messages: [{ role: "assistant", content: null }] }, "body.messages[0].content"],
    ];
    for (const [extra, param] of cases) {
      const err = lineError(() => chatParams({ messages: user, ...extra }, "simulated/m", "m"));
      expect(err.param, JSON.stringify(extra)).toBe(param);
      expect(err.message).toContain(param);
    }
  });

  it("reads embeddings and Responses bodies, refusing what cannot run in a batch", () => {
    expect(embeddingsParams({ model: "e", input: "a", dimensions: 8 }, "simulated/e", "e")).toMatchObject({
      operation: "embeddings",
      input: ["a"],
      dimensions: 8,
    });
    expect(lineError(() => embeddingsParams({ model: "e", input: [1, 2] }, "x/e", "e")).param).toBe(
      "body.input",
    );
    expect(
      lineError(() => embeddingsParams({ model: "e", input: "a", encoding_format: "hex" }, "x/e", "e")).param,
    ).toBe("body.encoding_format");
    expect(responsesParams({ model: "m", input: "hi" }, "x/m", "m")).toMatchObject({ body: { input: "hi" } });
    expect(
      lineError(() => responsesParams({ model: "m", input: "hi", previous_response_id: "r" }, "x/m", "m"))
        .param,
    ).toBe("body.previous_response_id");
  });
});

describe("keys inside content parts and nested objects (OpenAI chat)", () => {
  const image = (extra: Record<string, unknown> = {}) => ({
    type: "image_url",
    image_url: { url: "data:image/png;base64,AAAA", ...extra },
  });
  const withParts = (parts: unknown[]) => ({ messages: [{ role: "user", content: parts }] });
  const tool = { type: "function", function: { name: "w", parameters: { type: "object" } } };

  it("names the path of an unknown key at any depth", () => {
    const cases: [Record<string, unknown>, string][] = [
      [
        withParts([
          { type: "text", text: "a" },
          { type: "text", text: "b", detail_x: 1 },
        ]),
        "body.messages[0].content[1].detail_x",
      ],
      [withParts([{ ...image(), extra: 1 }]), "body.messages[0].content[0].extra"],
      [withParts([image({ size: "big" })]), "body.messages[0].content[0].image_url.size"],
      [{ tools: [{ ...tool, cache: true }] }, "body.tools[0].cache"],
      [
        { tools: [{ ...tool, function: { ...tool.function, examples: [] } }] },
        "body.tools[0].function.examples",
      ],
      [
        { tools: [tool], tool_choice: { type: "function", function: { name: "w", x: 1 } } },
        "body.tool_choice.function.x",
      ],
      [
        { tools: [tool], tool_choice: { type: "function", function: { name: "w" }, y: 1 } },
        "body.tool_choice.y",
      ],
      [
        { response_format: { type: "json_schema", json_schema: { name: "t", schema: {}, schemas: {} } } },
        "body.response_format.json_schema.schemas",
      ],
      [{ response_format: { type: "json_object", schema: {} } }, "body.response_format.schema"],
    ];
    for (const [body, param] of cases) {
      const err = lineError(() => chatParams({ messages: user, ...body }, "simulated/m", "m"));
      expect(err.param, JSON.stringify(body)).toBe(param);
      expect(err.message).toBe(`Unrecognized request argument supplied: ${param}`);
    }
  });

  it("refuses audio, file and refusal parts, naming the part", () => {
    for (const type of ["input_audio", "file", "refusal"]) {
      const err = lineError(() => chatParams(withParts([{ type, [type]: {} }]), "simulated/m", "m"));
      expect(err.param).toBe("body.messages[0].content[0].type");
      expect(err.message).toContain(`${type} parts are not supported`);
    }
  });

  it("keeps image_url.detail, auto being unset", () => {
    const detail = (d: string) =>
      chatParams(withParts([image({ detail: d })]), "simulated/m", "m").messages[0];
    expect(detail("high").content).toEqual([
      { type: "image", mediaType: "image/png", dataBase64: "AAAA", detail: "high" },
    ]);
    expect(detail("auto").content).toEqual([{ type: "image", mediaType: "image/png", dataBase64: "AAAA" }]);
    expect(lineError(() => detail("huge")).param).toBe("body.messages[0].content[0].image_url.detail");
  });
});

describe("refusals by provider kind", () => {
  it("names every field the provider cannot honour, in the shape's terms", () => {
    const request = {
      model: "m",
      messages: [{ role: "user" as const, content: "hi" }],
      seed: 1,
      metadata: { a: "b" },
    };
    expect(refusalMessage("mockant", ANTHROPIC_CAPABILITIES, request)).toMatch(
      /^seed, metadata: not supported by provider "mockant" \(anthropic\)/,
    );
    expect(refusalMessage("oai", OPENAI_COMPATIBLE_CAPABILITIES, request)).toBeNull();
    const thinking = {
      ...request,
      seed: undefined,
      metadata: undefined,
      thinking: { type: "enabled" as const, budgetTokens: 2000 },
    };
    expect(refusalMessage("oai", OPENAI_COMPATIBLE_CAPABILITIES, thinking)).toContain("thinking");
  });
});

describe("Anthropic params", () => {
  it("reads tools, tool_choice, cache_control, tool_result turns and thinking", () => {
    const r = messagesRequest(
      {
        model: "c",
        max_tokens: 4000,
        system: [{ type: "text", text: "ctx", cache_control: { type: "ephemeral", ttl: "1h" } }],
        tools: [{ name: "w", input_schema: { type: "object" } }],
        tool_choice: { type: "any", disable_parallel_tool_use: true },
        thinking: { type: "enabled", budget_tokens: 1024 },
        metadata: { user_id: "u" },
        messages: [
          { role: "user", content: "weather?" },
          { role: "assistant", content: [{ type: "tool_use", id: "t1", name: "w", input: { city: "x" } }] },
          {
            role: "user",
            content: [
              { type: "tool_result", tool_use_id: "t1", content: "5C", is_error: true },
              { type: "text", text: "and?" },
            ],
          },
        ],
      },
      "params",
      route,
    );
    expect(r).toMatchObject({
      messages: [
        {
          role: "system",
          content: [{ type: "text", text: "ctx", cacheControl: { type: "ephemeral", ttl: "1h" } }],
        },
        { role: "user", content: "weather?" },
        { role: "assistant", toolCalls: [{ id: "t1", name: "w", arguments: '{"city":"x"}' }] },
        { role: "tool", toolCallId: "t1", content: "5C", isError: true },
        { role: "user", content: [{ type: "text", text: "and?" }] },
      ],
      tools: [{ name: "w", parameters: { type: "object" } }],
      toolChoice: "required",
      parallelToolCalls: false,
      thinking: { type: "enabled", budgetTokens: 1024 },
      user: "u",
    });
  });

  it("refuses server tools, a small thinking budget and other metadata, naming the field", () => {
    const base = { model: "c", max_tokens: 10, messages: user };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ tools: [{ type: "web_search_20250305", name: "web_search" }] }, /^p\.tools\.0:/],
      [{ thinking: { type: "enabled", budget_tokens: 10 } }, /^p\.thinking\.budget_tokens:/],
      [{ metadata: { team: "x" } }, /^p\.metadata:/],
      [{ top_k: 3 }, /^p\.top_k:/],
      [{ mcp_servers: [] }, /^p\.mcp_servers: Extra inputs are not permitted/],
      [
        { system: [{ type: "text", text: "s", ttl: 1 }] },
        /^p\.system\.0\.ttl: Extra inputs are not permitted/,
      ],
      [
        { messages: [{ role: "user", content: [{ type: "text", text: "a", citations: [{ x: 1 }] }] }] },
        /^p\.messages\.0\.content\.0\.citations: not supported/,
      ],
      [
        {
          messages: [
            {
              role: "user",
              content: [
                { type: "image", source: { type: "base64", media_type: "image/png", data: "A", url: "u" } },
              ],
            },
          ],
        },
        /^p\.messages\.0\.content\.0\.source\.url: Extra inputs/,
      ],
      [
        {
          messages: [
            {
              role: "assistant",
              content: [
                { type: "tool_use", id: "t", name: "w", input: {}, cache_control: { type: "ephemeral" } },
              ],
            },
          ],
        },
        /^p\.messages\.0\.content\.0\.cache_control: not supported/,
      ],
      [
        {
          messages: [
            {
              role: "user",
              content: [
                { type: "tool_result", tool_use_id: "t", content: [{ type: "text", text: "r", foo: 1 }] },
              ],
            },
          ],
        },
        /^p\.messages\.0\.content\.0\.content\.0\.foo: Extra inputs/,
      ],
      [
        { messages: [{ role: "user", content: [{ type: "tool_result", tool_use_id: "t", bar: 1 }] }] },
        /^p\.messages\.0\.content\.0\.bar: Extra inputs/,
      ],
      [
        {
          messages: [
            { role: "assistant", content: [{ type: "thinking", thinking: "t", signature: "s", x: 1 }] },
          ],
        },
        /^p\.messages\.0\.content\.0\.x: Extra inputs/,
      ],
      [
        { messages: [{ role: "assistant", content: [{ type: "redacted_thinking", data: "d", y: 1 }] }] },
        /^p\.messages\.0\.content\.0\.y: Extra inputs/,
      ],
      [{ tools: [{ name: "w", input_schema: {}, foo: 1 }] }, /^p\.tools\.0\.foo: Extra inputs/],
      [
        { tools: [{ name: "w", input_schema: {}, input_examples: [{}] }] },
        /^p\.tools\.0\.input_examples: not supported/,
      ],
      [
        { tools: [{ name: "w", input_schema: {}, defer_loading: true }] },
        /^p\.tools\.0\.defer_loading: not supported/,
      ],
      [
        { tools: [{ name: "w", input_schema: {}, allowed_callers: ["direct"] }] },
        /^p\.tools\.0\.allowed_callers: not supported/,
      ],
      [
        { tools: [{ name: "w", input_schema: {}, eager_input_streaming: true }] },
        /^p\.tools\.0\.eager_input_streaming: not supported/,
      ],
      [{ tool_choice: { type: "auto", name: "w" } }, /^p\.tool_choice\.name: Extra inputs/],
      [
        { thinking: { type: "enabled", budget_tokens: 2000, display: "x" } },
        /^p\.thinking\.display: Extra inputs/,
      ],
      [
        { system: [{ type: "text", text: "s", cache_control: { type: "ephemeral", scope: "x" } }] },
        /^p\.system\.0\.cache_control\.scope: Extra inputs/,
      ],
    ];
    for (const [extra, message] of cases) {
      expect(() => messagesRequest({ ...base, ...extra }, "p", route)).toThrow(ParamsError);
      expect(() => messagesRequest({ ...base, ...extra }, "p", route)).toThrow(message);
    }
  });
});

describe("Anthropic tool strict", () => {
  it("is kept for the upstream, never dropped", () => {
    const r = messagesRequest(
      { model: "c", max_tokens: 10, messages: user, tools: [{ name: "w", input_schema: {}, strict: true }] },
      "p",
      route,
    );
    expect(r.tools).toEqual([{ name: "w", parameters: {}, strict: true }]);
  });
});

describe("Responses mapped onto chat", () => {
  it("takes fields a chat completion cannot carry only with a value that asks for nothing", () => {
    for (const noOp of [
      { store: false },
      { truncation: "disabled" },
      { service_tier: "auto" },
      { include: [] },
    ]) {
      expect(chatRequestOfResponses({ input: "x", ...noOp }, "m").ok).toBe(true);
    }
    for (const [field, value] of [
      ["store", true],
      ["truncation", "auto"],
      ["service_tier", "flex"],
      ["include", ["message.output_text.logprobs"]],
      ["prompt_cache_key", "k"],
      ["reasoning", { effort: "low", summary: "auto" }],
    ] as const) {
      const mapped = chatRequestOfResponses({ input: "x", [field]: value }, "m");
      expect(mapped.ok).toBe(false);
      if (!mapped.ok) expect(mapped.message).toMatch(new RegExp(`^body\\.${field}[.:]`));
    }
  });

  it("refuses a user that is not a string and keeps metadata as a chat line does, {} too", () => {
    for (const field of ["user", "safety_identifier"]) {
      const mapped = chatRequestOfResponses({ input: "x", [field]: 5 }, "m");
      expect(mapped).toEqual({ ok: false, message: `body.${field}: must be a string` });
    }
    const mapped = chatRequestOfResponses({ input: "x", metadata: {} }, "m");
    expect(mapped.ok && mapped.request.metadata).toEqual({});
    expect(chatRequestOfResponses({ input: "x", metadata: { a: 1 } }, "m")).toEqual({
      ok: false,
      message: "body.metadata: must be an object of strings",
    });
  });

  const refusedAt = (body: Record<string, unknown>) => {
    const mapped = chatRequestOfResponses(body, "m");
    if (mapped.ok) throw new Error(`expected a refusal of ${JSON.stringify(body)}`);
    return mapped.message;
  };
  const img = "data:image/png;base64,AAAA";

  it("names unknown keys of items and their parts, and refuses what has no chat counterpart", () => {
    const cases: [Record<string, unknown>, string][] = [
      [
        { input: [{ role: "user", content: "a", extra: 1 }] },
        "Unrecognized request argument supplied: body.input[0].extra",
      ],
      [
        { input: [{ role: "user", content: [{ type: "input_text", text: "a", x: 1 }] }] },
        "Unrecognized request argument supplied: body.input[0].content[0].x",
      ],
      [
        { input: [{ type: "function_call", call_id: "c", name: "w", arguments: "{}", z: 1 }] },
        "Unrecognized request argument supplied: body.input[0].z",
      ],
      [
        { input: [{ role: "user", content: [{ type: "input_image", file_id: "file_1" }] }] },
        "body.input[0].content[0].file_id: not supported on this provider",
      ],
      [
        {
          input: [
            { type: "function_call_output", call_id: "c", output: [{ type: "input_image", image_url: img }] },
          ],
        },
        "body.input[0].output[0]: only input_text parts",
      ],
      [
        { input: [{ role: "user", content: [{ type: "input_file", file_data: "x" }] }] },
        "body.input[0].content[0]: only input_text",
      ],
      [{ input: "a", text: { verbosity: "low" } }, "body.text.verbosity: not supported on this provider"],
      [
        { input: "a", reasoning: { effort: "low", summary: "auto" } },
        "body.reasoning.summary: not supported on this provider",
      ],
      [
        { input: "a", reasoning: { generate_summary: "auto" } },
        "body.reasoning.generate_summary: not supported on this provider",
      ],
      [
        { input: "a", tools: [{ type: "function", name: "w", parameters: {}, x: 1 }] },
        "Unrecognized request argument supplied: body.tools[0].x",
      ],
      [
        { input: "a", text: { format: { type: "json_object", schema: {} } } },
        "Unrecognized request argument supplied: body.text.format.schema",
      ],
    ];
    for (const [body, message] of cases) expect(refusedAt(body), JSON.stringify(body)).toContain(message);
  });

  it("keeps input_image detail and input_text function outputs", () => {
    const mapped = chatRequestOfResponses(
      {
        input: [
          { role: "user", content: [{ type: "input_image", image_url: img, detail: "low" }] },
          { type: "function_call_output", call_id: "c", output: [{ type: "input_text", text: "ok" }] },
        ],
        text: { verbosity: null },
      },
      "m",
    );
    expect(mapped).toMatchObject({
      ok: true,
      request: {
        messages: [
          {
            role: "user",
            content: [{ type: "image", mediaType: "image/png", dataBase64: "AAAA", detail: "low" }],
          },
          { role: "tool", content: "ok" },
        ],
      },
    });
  });

  it("maps instructions, items, tools and text.format, and answers a Response object", () => {
    const mapped = chatRequestOfResponses(
      {
        instructions: "brief",
        input: [
          { role: "user", content: [{ type: "input_text", text: "hi" }] },
          { type: "function_call", call_id: "c", name: "w", arguments: "{}" },
          { type: "function_call_output", call_id: "c", output: "ok" },
        ],
        tools: [{ type: "function", name: "w", parameters: { type: "object" } }],
        text: { format: { type: "json_object" } },
        max_output_tokens: 50,
        store: false,
      },
      "m",
    );
    expect(mapped).toMatchObject({
      ok: true,
      request: {
        messages: [
          { role: "system", content: "brief" },
          { role: "user", content: [{ type: "text", text: "hi" }] },
          { role: "assistant", toolCalls: [{ id: "c", name: "w" }] },
          { role: "tool", toolCallId: "c", content: "ok" },
        ],
        tools: [{ name: "w" }],
        responseFormat: { type: "json_object" },
        maxTokens: 50,
      },
    });
    expect(chatRequestOfResponses({ input: "x", max_tool_calls: 1 }, "m")).toEqual({
      ok: false,
      message: expect.stringContaining("body.max_tool_calls"),
    });
    const response = responseOfChat(
      { input: "x" },
      {
        kind: "success",
        text: "",
        model: "m",
        usage: { promptTokens: 3, completionTokens: 2 },
        toolCalls: [{ id: "c", name: "w", arguments: "{}" }],
      },
      "id1",
      1,
    );
    expect(response).toMatchObject({
      object: "response",
      status: "completed",
      output: [{ type: "function_call", call_id: "c", name: "w", arguments: "{}" }],
      usage: { input_tokens: 3, output_tokens: 2, total_tokens: 5 },
    });
  });
});
