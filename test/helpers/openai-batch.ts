import type OpenAI from "openai";
import { toFile } from "openai";
import { waitFor } from "./server.js";

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
