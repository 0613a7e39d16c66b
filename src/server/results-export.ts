/**
 * `GET /batches/{id}/results?format=json|jsonl|csv`: every result of a batch, streamed from the
 * store in keyset pages of 1000 (`seq > last`), never the whole batch in memory.
 */
import type { FastifyReply } from "fastify";
import { EXPORT_CONTENT_TYPES, type ExportFormat, exportStream } from "../files/batch-export.js";
import type { Batch, ItemStatus, Store } from "../store/types.js";
import { itemToWire } from "./wire/batches.js";

const PAGE = 1000;

/** The CSV columns of an export, in order (documented in README.md; do not reorder). */
export const RESULT_CSV_COLUMNS = [
  "custom_id",
  "status",
  "response_content",
  "error_code",
  "error_message",
  "prompt_tokens",
  "completion_tokens",
  "total_tokens",
  "history_id",
  "conversation_id",
  "processed_at",
  "attempts",
  "agent_id",
  "cached_prompt_tokens",
] as const;

type WireResult = ReturnType<typeof itemToWire>;

/**
 * The `json.<property>` columns of a batch whose agent version answers in a JSON schema: one per
 * top-level property of the schema, in its order (none for free text or `json_object`).
 */
async function jsonColumns(store: Store, batchId: string): Promise<string[]> {
  const [first] = await store.items.listAfter(batchId, -1, 1);
  if (!first || first.request) return [];
  const version = await store.agents.getVersion(first.agentId, first.agentVersion);
  const format = version?.responseFormat;
  if (format?.type !== "json_schema") return [];
  const properties = format.jsonSchema.schema.properties;
  return typeof properties === "object" && properties !== null ? Object.keys(properties) : [];
}

function jsonCells(r: WireResult, properties: string[]): unknown[] {
  const value = r.response_json;
  const object = typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
  return properties.map((p) => object[p] ?? null);
}

function csvRow(r: WireResult): unknown[] {
  const u = r.response_usage;
  return [
    r.custom_id,
    r.status,
    r.response_content,
    r.error_code,
    r.error_message,
    u?.total_prompt_tokens ?? null,
    u?.total_completion_tokens ?? null,
    u?.total_tokens ?? null,
    r.history_id,
    r.conversation_id,
    r.processed_at,
    r.attempts,
    r.agent_id,
    // Blank when no model call of the item reported a cached count.
    u?.total_cached_prompt_tokens ?? null,
  ];
}

async function* allResults(store: Store, batchId: string, status?: ItemStatus): AsyncIterable<WireResult[]> {
  let after = -1;
  for (;;) {
    const page = await store.items.listResultsAfter(batchId, after, PAGE, status);
    yield page.map(itemToWire);
    if (page.length < PAGE) return;
    after = page[page.length - 1].seq;
  }
}

export async function sendResultsExport(
  store: Store,
  reply: FastifyReply,
  batch: Batch,
  format: ExportFormat,
  status?: ItemStatus,
) {
  const properties = format === "csv" ? await jsonColumns(store, batch.id) : [];
  const body = exportStream(allResults(store, batch.id, status), format, {
    columns: [...RESULT_CSV_COLUMNS, ...properties.map((p) => `json.${p}`)],
    row: (r) => [...csvRow(r), ...jsonCells(r, properties)],
  });
  return reply
    .header("content-type", EXPORT_CONTENT_TYPES[format])
    .header("content-disposition", `attachment; filename="batch-${batch.id}-results.${format}"`)
    .header("cache-control", "no-store")
    .send(body);
}
