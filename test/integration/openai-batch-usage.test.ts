import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type MockLlm, startMockLlm } from "../../src/mock-llm/server.js";
import { runOpenAIBatch } from "../helpers/openai-batch.js";
import { publishedAgent, startTestServer, type TestServer, waitForBatch } from "../helpers/server.js";

/**
 * Cached prompt tokens through the OpenAI batch shape: an upstream that reports
 * `prompt_tokens_details.cached_tokens` (mock-llm's `cachedPromptTokens`) has them in each
 * output line's usage and summed in the batch object's `usage.input_tokens_details`.
 */

const CACHED = 4;
let mock: MockLlm;
let t: TestServer;
let client: OpenAI;

beforeAll(async () => {
  mock = await startMockLlm({ cachedPromptTokens: CACHED });
  t = await startTestServer((c) => {
    c.providers.mockoai = { type: "openai-compatible", baseUrl: mock.url, apiKey: "sk-test" };
    c.models = { "gpt-4o-mini": "mockoai/gpt-4o-mini", "sim-mini": "simulated/gpt-4o-mini" };
  });
  client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: t.key, maxRetries: 0 });
});
afterAll(async () => {
  await t?.close();
  await mock?.close();
});

describe("cached prompt tokens in the OpenAI batch shape", () => {
  it("carries each line's cached tokens and sums them in the batch's usage", async () => {
    const line = (custom_id: string, model: string, content: string) => ({
      custom_id,
      body: { model, messages: [{ role: "user", content }] },
    });
    const run = await runOpenAIBatch(client, "/v1/chat/completions", [
      line("a", "gpt-4o-mini", "Summarise the quarterly report in three short sentences"),
      line("b", "gpt-4o-mini", "Translate good morning into French, Spanish and German"),
      line("c", "sim-mini", "A provider that reports no cache at all"),
    ]);
    expect(run.batch.status).toBe("completed");
    let cached = 0;
    let prompt = 0;
    for (const id of ["a", "b", "c"]) {
      const usage = (run.output.get(id).response.body as OpenAI.Chat.ChatCompletion).usage;
      prompt += usage?.prompt_tokens ?? 0;
      cached += usage?.prompt_tokens_details?.cached_tokens ?? 0;
      if (id !== "c") expect(usage?.prompt_tokens_details?.cached_tokens).toBe(CACHED);
      else expect(usage?.prompt_tokens_details).toBeUndefined();
    }
    expect(cached).toBe(2 * CACHED);
    expect(run.batch.usage?.input_tokens).toBe(prompt);
    expect(run.batch.usage?.input_tokens_details.cached_tokens).toBe(cached);
  });
});

describe("cached prompt tokens in the Codeer batch API", () => {
  it("counts every model call's cached tokens, failed items' included, in results, steps, CSV and the batch", async () => {
    const plain = await publishedAgent(t, { model: "mockoai/gpt-4o-mini" });
    // One model call that asks for a tool, then max_steps ends the item as failed: its call was billed.
    const looping = await publishedAgent(t, {
      model: "mockoai/gpt-4o-mini",
      tools: [{ type: "client", name: "ask_user", parameters: { type: "object", properties: {} } }],
      max_steps: 1,
    });
    const created = await t.api("POST", "/api/v1/batches", {
      agent_id: plain,
      requests: [
        ...["a", "b", "c", "d"].map((id) => ({ custom_id: id, message: `question ${id}` })),
        ...["x", "y"].map((id) => ({ custom_id: id, message: `ask me ${id}`, agent_id: looping })),
      ],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    const batch = await waitForBatch(t, created.body.data.id);
    expect(batch.completed_requests + batch.failed_requests).toBe(6);
    expect(batch.failed_requests).toBe(2);
    // Six model calls, each reporting 4 cached prompt tokens.
    expect(batch.usage.cached_prompt_tokens).toBe(6 * CACHED);
    const results: any[] = (await t.api("GET", `/api/v1/batches/${batch.id}/results?limit=100`)).body.data;
    let sum = 0;
    for (const r of results) {
      expect(r.response_usage.total_cached_prompt_tokens, r.custom_id).toBe(CACHED);
      expect(r.response_usage.tool_calls[0].cached_prompt_tokens).toBe(CACHED);
      sum += r.response_usage.total_cached_prompt_tokens;
    }
    expect(sum).toBe(batch.usage.cached_prompt_tokens);
    const steps = await t.api("GET", `/api/v1/batches/${batch.id}/results/x/steps`);
    expect(steps.status, JSON.stringify(steps.body)).toBe(200);
    expect(steps.body.data.steps[0].usage.cached_prompt_tokens).toBe(CACHED);
    const csv = await fetch(`${t.url}/api/v1/batches/${batch.id}/results?format=csv`, {
      headers: { "x-api-key": t.key },
    });
    const [header, ...rows] = (await csv.text()).trimEnd().split("\n");
    expect(header.split(",").slice(-2)).toEqual(["agent_id", "cached_prompt_tokens"]);
    expect(rows).toHaveLength(6);
    for (const row of rows) expect(row.split(",").at(-1)).toBe(String(CACHED));
  });
});
