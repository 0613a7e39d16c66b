import type OpenAI from "openai";
import { makeParseableTextFormat } from "openai/lib/parser";
import { parseResponse } from "openai/lib/ResponsesParser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type OpenAIBatchServer,
  runOpenAIBatch,
  startOpenAIBatchServer,
  ticketSchema,
  weatherParameters,
} from "../helpers/openai-batch.js";

/**
 * `/v1/responses` batches: passed through to a provider that serves `/v1/responses` (mock-llm as
 * OpenAI), mapped onto chat completions for the others (Anthropic, the simulated model); each
 * output parsed back with the SDK and matched against a direct call to mock-llm.
 */

const weather: OpenAI.Responses.FunctionTool = {
  type: "function",
  name: "get_weather",
  parameters: weatherParameters,
  strict: true,
};

let server: OpenAIBatchServer;
let client: OpenAI;
let direct: OpenAI;

beforeAll(async () => {
  server = await startOpenAIBatchServer({ "house-model": "simulated/house-model" });
  ({ client, direct } = server);
});
afterAll(async () => server?.close());

/** What a Response says, without ids and times. */
function gist(r: OpenAI.Responses.Response) {
  return {
    status: r.status,
    output: r.output.map((o) =>
      o.type === "function_call"
        ? { type: o.type, name: o.name, arguments: JSON.parse(o.arguments) }
        : o.type === "message"
          ? { type: o.type, text: o.content.map((c) => (c.type === "output_text" ? c.text : "")).join("") }
          : { type: o.type },
    ),
    usage: { input_tokens: r.usage?.input_tokens, output_tokens: r.usage?.output_tokens },
  };
}

describe("Responses API batches", () => {
  it("passes Responses through to mock-llm and maps them onto chat for Anthropic and the simulated model", async () => {
    const text = makeParseableTextFormat(
      { type: "json_schema", name: "ticket", schema: ticketSchema, strict: true },
      (content) => JSON.parse(content) as Record<string, unknown>,
    );
    const bodies = {
      plain: { instructions: "be brief", input: "hi there" },
      tools: { input: "Weather in Quito?", tools: [weather] },
      schema: { input: "refund", text: { format: text } },
      items: {
        tools: [weather],
        input: [
          { role: "user", content: "Weather in Quito?" },
          {
            type: "function_call",
            call_id: "call_1",
            name: "get_weather",
            arguments: '{"city":"Quito","unit":"celsius"}',
          },
          { type: "function_call_output", call_id: "call_1", output: "14C" },
        ],
      },
    };
    const requests = [];
    for (const model of ["gpt-4o-mini", "claude-haiku", "house-model"]) {
      for (const [name, body] of Object.entries(bodies)) {
        requests.push({
          custom_id: `${model}-${name}`,
          body: JSON.parse(JSON.stringify({ model, ...body })),
        });
      }
    }
    const run = await runOpenAIBatch(client, "/v1/responses", requests);
    expect(run.batch.status).toBe("completed");
    expect(run.batch.request_counts).toEqual({ total: 12, completed: 12, failed: 0 });
    for (const [name, body] of Object.entries(bodies)) {
      const wanted = await direct.responses.create({
        model: "gpt-4o-mini",
        ...body,
      } as OpenAI.Responses.ResponseCreateParamsNonStreaming);
      for (const model of ["gpt-4o-mini", "claude-haiku", "house-model"]) {
        const line = run.output.get(`${model}-${name}`);
        expect(line.response.status_code).toBe(200);
        const got = line.response.body as OpenAI.Responses.Response;
        expect(got.object).toBe("response");
        const want = gist(wanted);
        const have = gist(got);
        if (model === "claude-haiku") {
          // Anthropic counts its own tokens for the translated request; the answer is the same.
          expect(have.output, `${model}-${name}`).toEqual(want.output);
        } else expect(have, `${model}-${name}`).toEqual(want);
      }
    }
    for (const model of ["gpt-4o-mini", "claude-haiku", "house-model"]) {
      const params = { model, input: "refund", text: { format: text } };
      const parsed = parseResponse(run.output.get(`${model}-schema`).response.body, params);
      expect(parsed.output_parsed, model).toEqual({ category: "billing", urgency: 1, summary: "refund" });
      expect(parsed.output_text).toBe(JSON.stringify(parsed.output_parsed));
    }
  });

  it("fails a line whose Responses field has no chat counterpart on a mapped provider, naming it", async () => {
    const run = await runOpenAIBatch(client, "/v1/responses", [
      { custom_id: "ok", body: { model: "claude-haiku", input: "hi" } },
      { custom_id: "effort", body: { model: "claude-haiku", input: "hi", reasoning: { effort: "low" } } },
      { custom_id: "calls", body: { model: "house-model", input: "hi", max_tool_calls: 2 } },
    ]);
    expect(run.batch.request_counts).toEqual({ total: 3, completed: 1, failed: 2 });
    expect(run.errors.get("effort").error.message).toContain("reasoning_effort");
    expect(run.errors.get("calls").error.message).toContain("body.max_tool_calls");
  });

  it("fails a mapped line on an unknown key inside an input item or part, or a field with no chat counterpart, naming its path", async () => {
    const image = "data:image/png;base64,iVBORw0KGgo=";
    const run = await runOpenAIBatch(client, "/v1/responses", [
      {
        custom_id: "part",
        body: {
          model: "claude-haiku",
          input: [{ role: "user", content: [{ type: "input_text", text: "a", x: 1 }] }],
        },
      },
      {
        custom_id: "file",
        body: {
          model: "claude-haiku",
          input: [{ role: "user", content: [{ type: "input_image", file_id: "file_1" }] }],
        },
      },
      { custom_id: "verbosity", body: { model: "claude-haiku", input: "hi", text: { verbosity: "low" } } },
      { custom_id: "summary", body: { model: "claude-haiku", input: "hi", reasoning: { summary: "auto" } } },
      {
        custom_id: "output",
        body: {
          model: "claude-haiku",
          input: [
            { type: "function_call", call_id: "c", name: "f", arguments: "{}" },
            {
              type: "function_call_output",
              call_id: "c",
              output: [{ type: "input_image", image_url: image }],
            },
          ],
        },
      },
      {
        custom_id: "detail",
        body: {
          model: "claude-haiku",
          input: [{ role: "user", content: [{ type: "input_image", image_url: image, detail: "high" }] }],
        },
      },
      {
        custom_id: "ok",
        body: {
          model: "claude-haiku",
          input: [{ role: "user", content: [{ type: "input_image", image_url: image, detail: "auto" }] }],
        },
      },
    ]);
    expect(run.batch.request_counts).toEqual({ total: 7, completed: 1, failed: 6 });
    const message = (id: string) => run.errors.get(id).error.message as string;
    expect(message("part")).toContain("body.input[0].content[0].x");
    expect(message("file")).toContain("body.input[0].content[0].file_id");
    expect(message("verbosity")).toContain("body.text.verbosity");
    expect(message("summary")).toContain("body.reasoning.summary");
    expect(message("output")).toContain("body.input[1].output[0]");
    expect(message("detail")).toContain("image_url.detail");
    for (const id of ["part", "file", "verbosity", "summary", "output", "detail"]) {
      expect(run.errors.get(id).response.status_code).toBe(400);
    }
  });
});
