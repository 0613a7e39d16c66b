/**
 * Structured output end to end (issue 14): an agent's `response_format` checked at create and
 * update, every success's `response_json` valid against the schema, the repair step and the 422
 * (the simulated model's `[invalid-json]` markers), the CSV `json.<property>` columns, and the
 * format reaching an OpenAI-compatible upstream (mock-llm) with the repair call.
 */
import { Ajv } from "ajv";
import { parse } from "csv-parse/sync";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type MockLlm, startMockLlm } from "../../src/mock-llm/server.js";
import { publishedAgent, startTestServer, type TestServer, waitForBatch } from "../helpers/server.js";
import {
  lookupTool,
  type ServerWithTools,
  startServerWithTools,
  type ToolReceiver,
} from "../helpers/tool-receiver.js";

const schema = {
  type: "object",
  properties: {
    label: { type: "string", enum: ["positive", "negative", "neutral"] },
    score: { type: "integer", minimum: 1, maximum: 5 },
    summary: { type: "string", maxLength: 40 },
    tags: { type: "array", items: { type: "string" }, minItems: 2, maxItems: 3 },
    meta: { type: "object", properties: { lang: { type: "string" } }, required: ["lang"] },
  },
  required: ["label", "score", "summary", "tags", "meta"],
  additionalProperties: false,
};
const responseFormat = { type: "json_schema", json_schema: { name: "review", schema, strict: true } };
const validate = new Ajv({ allErrors: true }).compile(schema);

/** Requests: plain ones, ones repaired once (`[invalid-json]`), ones invalid twice (`:always`). */
function requests(n: number) {
  return Array.from({ length: n }, (_, i) => {
    const marker = i % 10 === 3 ? " [invalid-json]" : i % 10 === 7 ? " [invalid-json:always]" : "";
    return { custom_id: `r-${i}`, message: `Review ${i}${marker}` };
  });
}

async function results(t: TestServer, batchId: string): Promise<any[]> {
  const res = await t.api("GET", `/api/v1/batches/${batchId}/results?limit=1000`);
  expect(res.status).toBe(200);
  return res.body.data;
}

async function download(t: TestServer, path: string): Promise<string> {
  const res = await fetch(`${t.url}${path}`, { headers: { "x-api-key": t.key } });
  expect(res.status).toBe(200);
  return res.text();
}

/** Checks every result of a batch of `requests(n)`: valid successes, repairs, 422s. */
function checkResults(rows: any[]): void {
  for (const r of rows) {
    const i = Number(r.custom_id.slice(2));
    if (i % 10 === 7) {
      expect(r).toMatchObject({ status: "failed", error_code: 422, response_json: null });
      expect(r.error_message).toContain('schema "review" after one repair step');
      // Broken JSON; through Anthropic's forced tool it arrives as an empty object ({}).
      expect(r.error_message).toMatch(/not valid JSON|\/ must have required property 'label'/);
      // Both calls were made (and billed): their tokens are the item's and count in the batch.
      expect(r.response_usage.total_calls).toBe(2);
      expect(r.response_usage.total_tokens).toBeGreaterThan(0);
      continue;
    }
    expect(r.status, JSON.stringify(r)).toBe("success");
    expect(validate(r.response_json), JSON.stringify(validate.errors)).toBe(true);
    expect(JSON.parse(r.response_content)).toEqual(r.response_json);
    const calls = i % 10 === 3 ? 2 : 1;
    expect(r.response_usage.tool_calls).toHaveLength(calls);
    expect(r.response_usage.total_calls).toBe(calls);
  }
}

describe("agents with response_format", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => t.close());

  it("stores and returns the format; a schema that does not compile is a 400 naming the field", async () => {
    const created = await t.api("POST", "/api/v1/agents", {
      name: "a",
      model: "simulated/echo",
      response_format: responseFormat,
    });
    expect(created.status).toBe(201);
    expect(created.body.data.response_format).toEqual(responseFormat);
    const id = created.body.data.id;

    const bad = await t.api("PATCH", `/api/v1/agents/${id}`, {
      response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "nope" } } },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/^response_format\.json_schema\.schema: /);
    const array = await t.api("PATCH", `/api/v1/agents/${id}`, {
      response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "array" } } },
    });
    expect(array.body.message).toMatch(/^response_format\.json_schema\.schema\.type: /);
    const missing = await t.api("POST", "/api/v1/agents", {
      name: "b",
      model: "simulated/echo",
      response_format: { type: "json_schema" },
    });
    expect(missing.status).toBe(400);
    expect(missing.body.message).toMatch(/^response_format\.json_schema: /);
    const unknown = await t.api("POST", "/api/v1/agents", {
      name: "b",
      model: "simulated/echo",
      response_format: { type: "json_object", json_schem: {} },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.message).toContain("json_schem");

    const cleared = await t.api("PATCH", `/api/v1/agents/${id}`, { response_format: null });
    expect(cleared.body.data.response_format).toBeNull();
    const json = await t.api("PATCH", `/api/v1/agents/${id}`, { response_format: { type: "json_object" } });
    expect(json.body.data.response_format).toEqual({ type: "json_object" });
  });
});

describe("a chat with a structured-output agent", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => t.close());

  it("answers validated JSON (repaired when needed); a still-invalid answer fails and stores nothing", async () => {
    const agent = await publishedAgent(t, { response_format: responseFormat });
    const chat = (await t.api("POST", "/api/v1/chats", { agent_id: agent, name: "c" })).body.data;
    const send = (message: string) =>
      t.api("POST", `/api/v1/chats/${chat.id}/messages`, { message, stream: false });
    const plain = await send("hello");
    expect(plain.status).toBe(200);
    expect(validate(JSON.parse(plain.body.data))).toBe(true);
    const repaired = await send("again [invalid-json]");
    expect(repaired.status).toBe(200);
    expect(validate(JSON.parse(repaired.body.data))).toBe(true);
    // Still invalid after the repair: 422 (as a batch item and the streamed frame), not a
    // model failure (502), in the Codeer envelope with the validation errors in the message.
    const broken = await send("never [invalid-json:always]");
    expect(broken.status).toBe(422);
    expect(broken.body).toMatchObject({ data: null, error_code: 10006 });
    expect(broken.body.message).toContain('does not match the response_format schema "review"');
    expect(broken.body.message).toContain("the answer is not valid JSON");
    const streamed = await fetch(`${t.url}/api/v1/chats/${chat.id}/messages`, {
      method: "POST",
      headers: { "x-api-key": t.key, "content-type": "application/json" },
      body: JSON.stringify({ message: "never [invalid-json:always]" }),
    });
    const frames = (await streamed.text()).split("\n").filter((l) => l.startsWith("data: {"));
    const error = JSON.parse(frames.at(-1)?.slice(6) ?? "{}");
    expect(error).toMatchObject({ type: "response.error", code: 422 });
    expect(error.message).toBe(broken.body.message);
    const messages = await t.api("GET", `/api/v1/chats/${chat.id}/messages?limit=50`);
    expect(messages.body.data).toHaveLength(4);
  });
});

describe("a batch with a json_schema on the simulated model", () => {
  let t: TestServer;
  let batchId: string;
  beforeAll(async () => {
    t = await startTestServer();
    const agent = await publishedAgent(t, { response_format: responseFormat });
    const res = await t.api("POST", "/api/v1/batches", { agent_id: agent, requests: requests(40) });
    expect(res.status).toBe(202);
    batchId = res.body.data.id;
    const done = await waitForBatch(t, batchId);
    expect(done).toMatchObject({ status: "completed", completed_requests: 36, failed_requests: 4 });
  });
  afterAll(async () => t.close());

  it("every success validates; [invalid-json] is repaired (two calls), [invalid-json:always] fails 422", async () => {
    const rows = await results(t, batchId);
    expect(rows).toHaveLength(40);
    checkResults(rows);
  });

  it("the batch's usage totals count the tokens of the items that failed 422", async () => {
    const rows = await results(t, batchId);
    const sum = (key: "total_prompt_tokens" | "total_completion_tokens") =>
      rows.reduce((n, r) => n + (r.response_usage?.[key] ?? 0), 0);
    const failed = rows.filter((r) => r.status === "failed");
    expect(failed.reduce((n, r) => n + (r.response_usage?.total_tokens ?? 0), 0)).toBeGreaterThan(0);
    const batch = (await t.api("GET", `/api/v1/batches/${batchId}`)).body.data;
    expect(batch.usage).toMatchObject({
      prompt_tokens: sum("total_prompt_tokens"),
      completion_tokens: sum("total_completion_tokens"),
    });
  });

  it("the CSV export has a json.<property> column per top-level property; JSONL carries the object", async () => {
    const csv = parse(await download(t, `/api/v1/batches/${batchId}/results?format=csv`), {
      columns: true,
    }) as Record<string, string>[];
    const columns = Object.keys(csv[0]);
    expect(columns.slice(-5)).toEqual(["json.label", "json.score", "json.summary", "json.tags", "json.meta"]);
    const rows = new Map((await results(t, batchId)).map((r) => [r.custom_id, r]));
    for (const line of csv) {
      const json = rows.get(line.custom_id).response_json;
      if (!json) {
        expect(line["json.label"]).toBe("");
        continue;
      }
      expect(line["json.label"]).toBe(json.label);
      expect(Number(line["json.score"])).toBe(json.score);
      expect(JSON.parse(line["json.tags"])).toEqual(json.tags);
      expect(JSON.parse(line["json.meta"])).toEqual(json.meta);
    }
    const jsonl = (await download(t, `/api/v1/batches/${batchId}/results?format=jsonl`))
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(jsonl.map((r) => r.response_json)).toEqual([...rows.values()].map((r) => r.response_json));
  });
});

describe("an agent with tools and a response_format", () => {
  let server: ServerWithTools;
  let t: TestServer;
  let receiver: ToolReceiver;
  beforeAll(async () => {
    server = await startServerWithTools();
    ({ t, receiver } = server);
  });
  afterAll(async () => server?.close());

  it("stores the repair call as a step: the transcript shows it and the usage counts it once", async () => {
    const agent = await publishedAgent(t, {
      response_format: responseFormat,
      tools: [lookupTool(receiver)],
    });
    const requests = [
      { custom_id: "plain", message: "Review 1" },
      { custom_id: "repaired", message: "Review 2 [invalid-json]" },
    ];
    const res = await t.api("POST", "/api/v1/batches", { agent_id: agent, requests });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const done = await waitForBatch(t, res.body.data.id);
    expect(done).toMatchObject({ status: "completed", completed_requests: 2 });
    const rows = new Map((await results(t, done.id)).map((r) => [r.custom_id, r]));
    const steps = async (customId: string) => {
      const r = await t.api("GET", `/api/v1/batches/${done.id}/results/${customId}/steps`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return r.body.data.steps as any[];
    };

    const plain = await steps("plain");
    expect(plain.map((s) => [s.type, s.repair ?? false])).toEqual([
      ["model", false],
      ["tool", false],
      ["model", false],
    ]);
    const repaired = await steps("repaired");
    expect(repaired.map((s) => [s.index, s.type, s.repair ?? false])).toEqual([
      [0, "model", false],
      [1, "tool", false],
      [2, "model", false],
      [3, "model", true],
    ]);
    expect(() => JSON.parse(repaired[2].content)).toThrow();
    const row = rows.get("repaired");
    expect(row.status).toBe("success");
    expect(JSON.parse(repaired[3].content)).toEqual(row.response_json);
    expect(validate(row.response_json)).toBe(true);
    // Three model calls, each once: the stored steps' tokens are the item's usage.
    expect(row.response_usage.total_calls).toBe(3);
    const tokens = repaired.filter((s) => s.type === "model").reduce((n, s) => n + s.usage.total_tokens, 0);
    expect(row.response_usage.total_tokens).toBe(tokens);
  });
});

describe("response_format through an OpenAI-compatible upstream (mock-llm)", () => {
  let mock: MockLlm;
  let t: TestServer;
  beforeAll(async () => {
    mock = await startMockLlm({ captureBodies: true });
    t = await startTestServer((c) => {
      c.providers.mock = { type: "openai-compatible", baseUrl: mock.url, apiKey: "test" };
    });
  });
  afterAll(async () => {
    await t.close();
    await mock.close();
  });

  it("sends response_format natively, validates every answer, repairs and fails 422 like the simulated model", async () => {
    const agent = await publishedAgent(t, { model: "mock/gpt-test", response_format: responseFormat });
    const res = await t.api("POST", "/api/v1/batches", { agent_id: agent, requests: requests(10) });
    expect(res.status).toBe(202);
    const done = await waitForBatch(t, res.body.data.id);
    expect(done).toMatchObject({ status: "completed", completed_requests: 9, failed_requests: 1 });
    checkResults(await results(t, done.id));

    const bodies = mock.requests.map((r) => r.body as any);
    expect(bodies).toHaveLength(12);
    for (const body of bodies) {
      expect(body.response_format).toEqual({
        type: "json_schema",
        json_schema: { name: "review", schema, strict: true },
      });
    }
    const repairs = bodies.filter((b) => b.messages.length === 3);
    expect(repairs).toHaveLength(2);
    for (const b of repairs) {
      expect(b.messages.map((m: any) => m.role)).toEqual(["user", "assistant", "user"]);
      expect(b.messages[2].content).toContain("Your answer does not match the required response format");
    }
  });
});

describe("response_format through Anthropic (mock-llm): a forced tool", () => {
  let mock: MockLlm;
  let t: TestServer;
  beforeAll(async () => {
    mock = await startMockLlm({ captureBodies: true });
    t = await startTestServer((c) => {
      c.providers.mockanthropic = { type: "anthropic", baseUrl: mock.url, apiKey: "test" };
    });
  });
  afterAll(async () => {
    await t.close();
    await mock.close();
  });

  it("answers through the forced tool, validated, repaired and failed 422 alike", async () => {
    const agent = await publishedAgent(t, {
      model: "mockanthropic/claude-test",
      max_tokens: 512,
      response_format: responseFormat,
    });
    const res = await t.api("POST", "/api/v1/batches", { agent_id: agent, requests: requests(10) });
    expect(res.status).toBe(202);
    const done = await waitForBatch(t, res.body.data.id);
    expect(done).toMatchObject({ status: "completed", completed_requests: 9, failed_requests: 1 });
    checkResults(await results(t, done.id));
    const bodies = mock.requests.map((r) => r.body as any);
    expect(bodies).toHaveLength(12);
    for (const body of bodies) {
      expect(body.tools.map((tool: any) => tool.name)).toEqual(["review"]);
      expect(body.tools[0].input_schema).toEqual(schema);
      expect(body.tool_choice).toMatchObject({ type: "tool", name: "review" });
    }
  });
});
