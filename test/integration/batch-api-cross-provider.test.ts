import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type MockLlm, startMockLlm } from "../../src/mock-llm/server.js";
import { startTestServer, type TestServer, waitFor } from "../helpers/server.js";

const LINES = 25;
const file = Array.from({ length: LINES }, (_, i) =>
  JSON.stringify({
    custom_id: `line-${i}`,
    method: "POST",
    url: "/v1/chat/completions",
    body: {
      model: "house-model",
      messages: [
        { role: "developer", content: "You answer in one line." },
        { role: "user", content: [{ type: "text", text: `Item ${i}: ${"x".repeat(i * 7)}` }] },
      ],
      max_tokens: 100,
    },
  }),
).join("\n");

/** Runs the file through the OpenAI shape and returns the output lines and the batch. */
async function runFile(t: TestServer) {
  const client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: t.key, maxRetries: 0 });
  const input = await client.files.create({
    file: await toFile(Buffer.from(file), "same.jsonl"),
    purpose: "batch",
  });
  const created = await client.batches.create({
    input_file_id: input.id,
    endpoint: "/v1/chat/completions",
    completion_window: "24h",
  });
  const done = (await waitFor(
    async () => {
      const b = await client.batches.retrieve(created.id);
      return ["completed", "failed", "cancelled", "expired"].includes(b.status) ? b : null;
    },
    { what: "the batch to complete" },
  )) as OpenAI.Batches.Batch;
  const text = await (await client.files.content(done.output_file_id as string)).text();
  const lines = text
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  return { done, byId: new Map(lines.map((l) => [l.custom_id as string, l])) };
}

describe("one OpenAI-shaped file on two providers", () => {
  let mock: MockLlm;
  let simulated: TestServer;
  let viaAnthropic: TestServer;
  beforeAll(async () => {
    mock = await startMockLlm();
    simulated = await startTestServer((c) => {
      c.models = { "house-model": "simulated/house-model" };
    });
    viaAnthropic = await startTestServer((c) => {
      c.providers.mockanthropic = { type: "anthropic", baseUrl: mock.url, apiKey: "test" };
      c.models = { "house-model": "mockanthropic/house-model" };
    });
  });
  afterAll(async () => {
    await simulated.close();
    await viaAnthropic.close();
    await mock.close();
  });

  it("gives the same custom_ids, answers and usage on the simulated model and through the anthropic provider", async () => {
    const a = await runFile(simulated);
    const b = await runFile(viaAnthropic);
    expect(a.done.status).toBe("completed");
    expect(b.done.status).toBe("completed");
    expect([...a.byId.keys()].sort()).toEqual([...b.byId.keys()].sort());
    expect(a.byId.size).toBe(LINES);
    for (const [id, line] of a.byId) {
      const other = b.byId.get(id);
      expect(other.response.body.choices[0].message.content).toBe(
        line.response.body.choices[0].message.content,
      );
      expect(other.response.body.usage).toEqual(line.response.body.usage);
      expect(other.response.body.model).toBe("house-model");
    }
    expect(b.done.usage).toEqual(a.done.usage);
    // Every request reached the mock through its Anthropic Messages route.
    expect(mock.log.filter((e) => e.status === 200 && e.model === "house-model")).toHaveLength(LINES);
  });
});
