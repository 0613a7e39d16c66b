import OpenAI, { toFile } from "openai";
import { type MockLlm, startMockLlm } from "../../src/mock-llm/server.js";
import { startTestServer, type TestServer, waitFor } from "./server.js";

/** A support ticket: the strict JSON Schema the OpenAI batch tests ask for as structured output. */
export const ticketSchema = {
  type: "object",
  properties: {
    category: { type: "string", enum: ["billing", "bug"] },
    urgency: { type: "integer", minimum: 1, maximum: 5 },
    summary: { type: "string" },
  },
  required: ["category", "urgency", "summary"],
  additionalProperties: false,
};

/** The `get_weather` tool's strict parameters (the tool itself differs by endpoint's shape). */
export const weatherParameters = {
  type: "object",
  properties: { city: { type: "string" }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } },
  required: ["city", "unit"],
  additionalProperties: false,
};

export interface OpenAIBatchServer {
  mock: MockLlm;
  t: TestServer;
  /** The OpenAI SDK pointed at the test server. */
  client: OpenAI;
  /** The OpenAI SDK pointed at mock-llm itself, for the direct call a batch line is matched against. */
  direct: OpenAI;
  close(): Promise<void>;
}

/**
 * mock-llm behind a test server as an OpenAI-compatible provider (`gpt-4o-mini` →
 * `mockoai/gpt-4o-mini`) and an Anthropic one (`claude-haiku` → `mockant/claude-haiku`), with
 * `models` added (the simulated model's alias).
 */
export async function startOpenAIBatchServer(models: Record<string, string>): Promise<OpenAIBatchServer> {
  const mock = await startMockLlm();
  const t = await startTestServer((c) => {
    c.providers.mockoai = { type: "openai-compatible", baseUrl: mock.url, apiKey: "sk-test" };
    c.providers.mockant = { type: "anthropic", baseUrl: mock.url, apiKey: "test" };
    c.models = { "gpt-4o-mini": "mockoai/gpt-4o-mini", "claude-haiku": "mockant/claude-haiku", ...models };
  });
  return {
    mock,
    t,
    client: new OpenAI({ baseURL: `${t.url}/v1`, apiKey: t.key, maxRetries: 0 }),
    direct: new OpenAI({ baseURL: mock.url, apiKey: "sk-test", maxRetries: 0 }),
    close: async () => {
      await t.close();
      await mock.close();
    },
  };
}

export interface BatchLine {
  custom_id: string;
  body: Record<string, unknown>;
}

export interface BatchRun {
  batch: OpenAI.Batches.Batch;
  /** Output lines by custom_id. */
  output: Map<string, any>;
  /** Error lines by custom_id. */
  errors: Map<string, any>;
}

async function lines(client: OpenAI, fileId: string | null | undefined): Promise<Map<string, any>> {
  if (!fileId) return new Map();
  const text = await (await client.files.content(fileId)).text();
  const parsed = text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l));
  return new Map(parsed.map((l) => [l.custom_id as string, l]));
}

/** Uploads `requests` as an input file for `endpoint`, runs the batch to its end and reads both files. */
export async function runOpenAIBatch(
  client: OpenAI,
  endpoint: "/v1/chat/completions" | "/v1/embeddings" | "/v1/responses",
  requests: BatchLine[],
): Promise<BatchRun> {
  const jsonl = requests
    .map((r) => JSON.stringify({ custom_id: r.custom_id, method: "POST", url: endpoint, body: r.body }))
    .join("\n");
  const file = await client.files.create({
    file: await toFile(Buffer.from(jsonl), "in.jsonl"),
    purpose: "batch",
  });
  const created = await client.batches.create({ input_file_id: file.id, endpoint, completion_window: "24h" });
  const batch = (await waitFor(
    async () => {
      const b = await client.batches.retrieve(created.id);
      return ["completed", "failed", "cancelled", "expired"].includes(b.status) ? b : null;
    },
    { timeoutMs: 30_000, what: `batch ${created.id} to end` },
  )) as OpenAI.Batches.Batch;
  return {
    batch,
    output: await lines(client, batch.output_file_id),
    errors: await lines(client, batch.error_file_id),
  };
}
