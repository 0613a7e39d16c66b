import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type MockLlm, startMockLlm } from "../../src/mock-llm/server.js";
import { runOpenAIBatch } from "../helpers/openai-batch.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

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
