import Anthropic from "@anthropic-ai/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type MockLlm, startMockLlm } from "../../src/mock-llm/server.js";
import { startTestServer, type TestServer, waitFor } from "../helpers/server.js";

/**
 * The Anthropic batch shape with tools, tool_choice, system blocks with cache_control and
 * thinking: passed through to an Anthropic provider (each result matches a direct call to
 * mock-llm with the same params), translated for an OpenAI-compatible one, refused where it
 * cannot work.
 */

const tools: Anthropic.Tool[] = [
  {
    name: "get_weather",
    description: "Weather in a city",
    input_schema: {
      type: "object",
      properties: { city: { type: "string" }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } },
      required: ["city", "unit"],
    },
  },
];

let mock: MockLlm;
let t: TestServer;
let client: Anthropic;
let direct: Anthropic;

beforeAll(async () => {
  mock = await startMockLlm({ captureBodies: true });
  t = await startTestServer((c) => {
    c.providers.mockoai = { type: "openai-compatible", baseUrl: mock.url, apiKey: "sk-test" };
    c.providers.mockant = { type: "anthropic", baseUrl: mock.url, apiKey: "test" };
    c.models = { "claude-haiku": "mockant/claude-haiku", "gpt-4o-mini": "mockoai/gpt-4o-mini" };
  });
  client = new Anthropic({ baseURL: t.url, apiKey: t.key, maxRetries: 0 });
  direct = new Anthropic({ baseURL: mock.url.replace(/\/v1$/, ""), apiKey: "test", maxRetries: 0 });
});
afterAll(async () => {
  await t?.close();
  await mock?.close();
});

type Params = Anthropic.MessageCreateParamsNonStreaming;
const params0 = (extra: Record<string, unknown>) =>
  ({
    model: "claude-haiku",
    max_tokens: 10,
    messages: [{ role: "user", content: "hi" }],
    ...extra,
  }) as Params;

async function runBatch(requests: { custom_id: string; params: Params }[]) {
  const created = await client.messages.batches.create({ requests });
  await waitFor(
    async () => (await client.messages.batches.retrieve(created.id)).processing_status === "ended",
    { what: "the message batch to end" },
  );
  const results = new Map<string, Anthropic.Messages.Batches.MessageBatchResult>();
  for await (const r of await client.messages.batches.results(created.id)) results.set(r.custom_id, r.result);
  return results;
}

function message(result: Anthropic.Messages.Batches.MessageBatchResult | undefined): Anthropic.Message {
  if (result?.type !== "succeeded") throw new Error(`expected a success, got ${JSON.stringify(result)}`);
  return result.message;
}

/** What a Message says, without its id (and thinking signatures, which the mock numbers per call). */
const gist = (m: Anthropic.Message) => ({
  model: m.model,
  content: m.content.map((b) => (b.type === "thinking" ? { ...b, signature: "" } : b)),
  stop_reason: m.stop_reason,
  usage: { input_tokens: m.usage.input_tokens, output_tokens: m.usage.output_tokens },
});

describe("Anthropic batch fields", () => {
  it("passes tools, tool_choice, cached system blocks, tool_result turns and thinking through to an Anthropic provider", async () => {
    const toolParams: Params = {
      model: "claude-haiku",
      max_tokens: 256,
      tools,
      tool_choice: { type: "any", disable_parallel_tool_use: true },
      messages: [{ role: "user", content: "Weather in Bern?" }],
    };
    const cachedParams: Params = {
      model: "claude-haiku",
      max_tokens: 256,
      system: [
        { type: "text", text: "You are a weather bot." },
        { type: "text", text: "Long reference text. ".repeat(20), cache_control: { type: "ephemeral" } },
      ],
      messages: [{ role: "user", content: "Is it cold?" }],
      metadata: { user_id: "u-7" },
    };
    const thinkingParams: Params = {
      model: "claude-haiku",
      max_tokens: 4096,
      thinking: { type: "enabled", budget_tokens: 2048 },
      messages: [{ role: "user", content: "Think first" }],
    };
    const first = await direct.messages.create(toolParams);
    const use = first.content.find((b) => b.type === "tool_use");
    if (use?.type !== "tool_use") throw new Error("expected tool_use from the direct call");
    const resultParams: Params = {
      model: "claude-haiku",
      max_tokens: 256,
      tools,
      messages: [
        { role: "user", content: "Weather in Bern?" },
        { role: "assistant", content: first.content },
        { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "5C" }] },
      ],
    };
    const all = { tools: toolParams, cached: cachedParams, thinking: thinkingParams, result: resultParams };
    const results = await runBatch(Object.entries(all).map(([custom_id, params]) => ({ custom_id, params })));
    for (const [id, params] of Object.entries(all)) {
      const wanted = await direct.messages.create(params);
      expect(gist(message(results.get(id))), id).toEqual(gist(wanted));
    }
    const viaBatch = message(results.get("tools"));
    expect(viaBatch.stop_reason).toBe("tool_use");
    expect(viaBatch.content.find((b) => b.type === "tool_use")).toMatchObject({
      name: "get_weather",
      input: { city: "Weather in Bern?", unit: "celsius" },
    });
    expect(message(results.get("thinking")).content[0].type).toBe("thinking");
    const sent = mock.requests
      .filter((r) => r.path === "/v1/messages")
      .map((r) => r.body as { system?: unknown; tool_choice?: { type: string } });
    const sentSystems = sent.filter((b) => Array.isArray(b.system)).map((b) => b.system);
    expect(sentSystems.length).toBeGreaterThanOrEqual(2);
    for (const system of sentSystems) expect(system).toEqual(cachedParams.system);
    const sentChoices = sent.filter((b) => b.tool_choice);
    expect(sentChoices.length).toBeGreaterThan(0);
    expect(sentChoices.every((b) => b.tool_choice?.type === "any")).toBe(true);
    const answer = message(results.get("result")).content.find((b) => b.type === "text");
    expect(answer?.type === "text" && answer.text).toContain("5C");
  });

  it("translates tools for an OpenAI-compatible provider and refuses thinking there, naming it", async () => {
    const results = await runBatch([
      {
        custom_id: "tools",
        params: {
          model: "gpt-4o-mini",
          max_tokens: 256,
          tools,
          messages: [{ role: "user", content: "Weather in Oslo?" }],
        },
      },
      {
        custom_id: "cached",
        params: {
          model: "gpt-4o-mini",
          max_tokens: 256,
          system: [{ type: "text", text: "Be brief.", cache_control: { type: "ephemeral" } }],
          messages: [{ role: "user", content: "hello" }],
        },
      },
      {
        custom_id: "thinking",
        params: {
          model: "gpt-4o-mini",
          max_tokens: 4096,
          thinking: { type: "enabled", budget_tokens: 1024 },
          messages: [{ role: "user", content: "hi" }],
        },
      },
    ]);
    const called = message(results.get("tools"));
    expect(called.stop_reason).toBe("tool_use");
    expect(called.content.find((b) => b.type === "tool_use")).toMatchObject({
      type: "tool_use",
      name: "get_weather",
      input: { city: "Weather in Oslo?", unit: "celsius" },
    });
    expect(message(results.get("cached")).content).toEqual([{ type: "text", text: "Echo: hello" }]);
    const refused = results.get("thinking");
    if (refused?.type !== "errored") throw new Error(`expected an error, got ${JSON.stringify(refused)}`);
    expect(refused.error.error.type).toBe("invalid_request_error");
    expect(refused.error.error.message).toContain("thinking");
  });

  it("sends a tool's strict flag to an Anthropic provider", async () => {
    const before = mock.requests.length;
    const results = await runBatch([
      {
        custom_id: "strict",
        params: {
          model: "claude-haiku",
          max_tokens: 256,
          tools: [{ ...tools[0], strict: true }],
          messages: [{ role: "user", content: "Weather in Rome?" }],
        },
      },
    ]);
    expect(message(results.get("strict")).stop_reason).toBe("tool_use");
    const sent = mock.requests
      .slice(before)
      .filter((r) => r.path === "/v1/messages")
      .map((r) => r.body as { tools?: { name: string; strict?: boolean }[] });
    expect(sent.length).toBeGreaterThan(0);
    for (const body of sent) expect(body.tools).toEqual([{ ...tools[0], strict: true }]);
  });

  it("refuses an unknown or unrunnable key inside a content block, a tool or tool_choice, naming its path", async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        {
          messages: [
            {
              role: "user",
              content: [
                { type: "text", text: "a" },
                { type: "text", text: "b", detail_x: 1 },
              ],
            },
          ],
        },
        /requests\.0\.params\.messages\.0\.content\.1\.detail_x: Extra inputs are not permitted/,
      ],
      [
        {
          messages: [
            { role: "user", content: "hi" },
            {
              role: "assistant",
              content: [
                {
                  type: "tool_use",
                  id: "t1",
                  name: "get_weather",
                  input: {},
                  cache_control: { type: "ephemeral" },
                },
              ],
            },
            { role: "user", content: [{ type: "tool_result", tool_use_id: "t1", content: "ok" }] },
          ],
          tools,
        },
        /requests\.0\.params\.messages\.1\.content\.0\.cache_control: not supported/,
      ],
      [
        {
          messages: [
            { role: "user", content: [{ type: "text", text: "a", citations: [{ type: "char_location" }] }] },
          ],
        },
        /requests\.0\.params\.messages\.0\.content\.0\.citations: not supported/,
      ],
      [
        { system: [{ type: "text", text: "s", extra: 1 }] },
        /requests\.0\.params\.system\.0\.extra: Extra inputs/,
      ],
      [
        { tools: [{ ...tools[0], defer_loading: true }] },
        /requests\.0\.params\.tools\.0\.defer_loading: not supported/,
      ],
      [
        { tools, tool_choice: { type: "any", name: "x" } },
        /requests\.0\.params\.tool_choice\.name: Extra inputs/,
      ],
      [
        {
          messages: [
            {
              role: "user",
              content: [
                {
                  type: "image",
                  source: { type: "base64", media_type: "image/png", data: "AAAA" },
                  detail: "low",
                },
              ],
            },
          ],
        },
        /requests\.0\.params\.messages\.0\.content\.0\.detail: Extra inputs/,
      ],
    ];
    for (const [extra, message] of cases) {
      const create = client.messages.batches.create({
        requests: [{ custom_id: "c", params: params0(extra) }],
      });
      await expect(create, JSON.stringify(extra)).rejects.toBeInstanceOf(Anthropic.BadRequestError);
      await expect(create).rejects.toThrow(message);
    }
  });

  it("refuses what no provider here can run with a 400 naming the field", async () => {
    const bad = client.messages.batches.create({
      requests: [
        {
          custom_id: "a",
          params: {
            model: "claude-haiku",
            max_tokens: 10,
            tools: [{ type: "web_search_20250305", name: "web_search" }],
            messages: [{ role: "user", content: "hi" }],
          },
        },
      ],
    });
    await expect(bad).rejects.toBeInstanceOf(Anthropic.BadRequestError);
    await expect(bad).rejects.toThrow(/requests\.0\.params\.tools\.0/);
    const topK = client.messages.batches.create({
      requests: [
        {
          custom_id: "b",
          params: {
            model: "claude-haiku",
            max_tokens: 10,
            messages: [{ role: "user", content: "hi" }],
            ...{ top_k: 5 },
          } as Params,
        },
      ],
    });
    await expect(topK).rejects.toThrow(/requests\.0\.params\.top_k/);
    const messageKey = client.messages.batches.create({
      requests: [
        {
          custom_id: "c",
          params: {
            model: "claude-haiku",
            max_tokens: 10,
            messages: [
              { role: "user", content: "hi" },
              { role: "assistant", content: "yo", ...{ foo: 1 } },
            ],
          } as Params,
        },
      ],
    });
    await expect(messageKey).rejects.toBeInstanceOf(Anthropic.BadRequestError);
    await expect(messageKey).rejects.toThrow(
      /requests\.0\.params\.messages\.1\.foo: Extra inputs are not permitted/,
    );
  });
});
