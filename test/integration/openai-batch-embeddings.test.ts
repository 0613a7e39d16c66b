import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type MockLlm, startMockLlm } from "../../src/mock-llm/server.js";
import { runOpenAIBatch } from "../helpers/openai-batch.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

/** `/v1/embeddings` batches: output lines as OpenAI's embedding responses, matched against direct calls. */

let mock: MockLlm;
let t: TestServer;
let client: OpenAI;
let direct: OpenAI;

beforeAll(async () => {
  mock = await startMockLlm({ captureBodies: true });
  t = await startTestServer((c) => {
    c.engine.concurrency = 32;
    c.providers.mockoai = { type: "openai-compatible", baseUrl: mock.url, apiKey: "sk-test" };
    c.providers.mockant = { type: "anthropic", baseUrl: mock.url, apiKey: "test" };
    c.models = {
      "text-embedding-3-small": "mockoai/text-embedding-3-small",
      "house-embed": "simulated/text-embedding-3-small",
      "claude-haiku": "mockant/claude-haiku",
    };
  });
  client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: t.key, maxRetries: 0 });
  direct = new OpenAI({ baseURL: mock.url, apiKey: "sk-test", maxRetries: 0 });
});
afterAll(async () => {
  await t?.close();
  await mock?.close();
});

const norm = (v: number[]) => Math.hypot(...v);

describe("embeddings batches", () => {
  it("answers each line like a direct embeddings call, on mock-llm and the simulated model, and refuses a provider without embeddings", async () => {
    const bodies: Record<string, Record<string, unknown>> = {
      one: { model: "text-embedding-3-small", input: "the quick brown fox", encoding_format: "float" },
      many: {
        model: "text-embedding-3-small",
        input: ["alpha beta", "gamma", "alpha beta"],
        encoding_format: "float",
      },
      short: {
        model: "text-embedding-3-small",
        input: "shorter vectors",
        dimensions: 64,
        encoding_format: "float",
      },
      packed: { model: "text-embedding-3-small", input: "base64 please", encoding_format: "base64" },
      simulated: { model: "house-embed", input: "the quick brown fox", encoding_format: "float" },
      anthropic: { model: "claude-haiku", input: "no embeddings there" },
    };
    const run = await runOpenAIBatch(
      client,
      "/v1/embeddings",
      Object.entries(bodies).map(([custom_id, body]) => ({ custom_id, body })),
    );
    expect(run.batch.status).toBe("completed");
    expect(run.batch.request_counts).toEqual({ total: 6, completed: 5, failed: 1 });
    for (const id of ["one", "many", "short", "packed"]) {
      const body = run.output.get(id).response.body;
      const wanted = await direct.embeddings.create(bodies[id] as unknown as OpenAI.EmbeddingCreateParams);
      expect(body.object).toBe("list");
      expect(body.model).toBe(wanted.model);
      expect(body.usage).toEqual(wanted.usage);
      expect(body.data.map((d: { index: number }) => d.index)).toEqual(wanted.data.map((d) => d.index));
      if (id === "packed") {
        expect(typeof body.data[0].embedding).toBe("string");
        expect(body.data[0].embedding).toBe(wanted.data[0].embedding);
        continue;
      }
      body.data.forEach((d: { embedding: number[] }, i: number) => {
        expect(d.embedding).toHaveLength(wanted.data[i].embedding.length);
        d.embedding.forEach((x, j) => {
          expect(x).toBeCloseTo(wanted.data[i].embedding[j], 6);
        });
        expect(norm(d.embedding)).toBeCloseTo(1, 6);
      });
    }
    const many = run.output.get("many").response.body.data;
    expect(many[0].embedding).toEqual(many[2].embedding);
    expect(run.output.get("short").response.body.data[0].embedding).toHaveLength(64);
    const simulated = run.output.get("simulated").response.body.data[0].embedding;
    expect(simulated).toEqual(run.output.get("one").response.body.data[0].embedding);
    expect(run.errors.get("anthropic").error.message).toContain("embeddings");
    const usage = [...run.output.values()].reduce((s, l) => s + l.response.body.usage.prompt_tokens, 0);
    expect(run.batch.usage?.input_tokens).toBe(usage);
    expect(usage).toBeGreaterThan(0);

    // The Codeer result columns and export never carry vectors.
    const exported = await t.api("GET", `/api/v1/batches/${run.batch.id}/results?format=csv`);
    expect(exported.status).toBe(200);
    expect(String(exported.body)).not.toMatch(/0\.\d{6,}/);
  });

  it("joins lines bound for one upstream into shared upstream calls, each line still getting its own vectors", async () => {
    const before = mock.requests.filter((r) => r.path === "/v1/embeddings").length;
    const lines = Array.from({ length: 120 }, (_, i) => ({
      custom_id: `e${i}`,
      body: {
        model: "text-embedding-3-small",
        input: i % 3 === 0 ? [`word ${i}`, `other ${i}`] : `word ${i}`,
        dimensions: 32,
        encoding_format: "float",
      },
    }));
    const run = await runOpenAIBatch(client, "/v1/embeddings", lines);
    expect(run.batch.request_counts).toEqual({ total: 120, completed: 120, failed: 0 });
    const calls = mock.requests.filter((r) => r.path === "/v1/embeddings").slice(before);
    const sent = calls.reduce((n, c) => n + (c.body as { input: string[] }).input.length, 0);
    expect(sent).toBe(160);
    expect(calls.length).toBeLessThan(120);
    for (const i of [0, 1, 57, 119]) {
      const body = run.output.get(`e${i}`).response.body;
      const wanted = await direct.embeddings.create({ ...(lines[i].body as OpenAI.EmbeddingCreateParams) });
      expect(body.data).toHaveLength(wanted.data.length);
      body.data.forEach((d: { embedding: number[] }, j: number) => {
        d.embedding.forEach((x, k) => {
          expect(x).toBeCloseTo(wanted.data[j].embedding[k] as number, 6);
        });
      });
    }
    const tokens = [...run.output.values()].reduce((n, l) => n + l.response.body.usage.prompt_tokens, 0);
    expect(run.batch.usage?.input_tokens).toBe(tokens);
  });
});
