/**
 * `GET /batches/{id}/results?format=json|jsonl|csv`: every result of a batch, streamed from the
 * store in keyset pages of 1000 (`seq > last`), never the whole batch in memory.
 */
import type { FastifyReply } from "fastify";
import { EXPORT_CONTENT_TYPES, type ExportFormat, exportStream } from "../files/batch-export.js";
import { type ItemResultRow, RESULT_CELL } from "../store/items.js";
import type { Batch, ItemStatus, Store } from "../store/types.js";
import { RESULT_CSV_COLUMNS, resultCsvCells, resultJsonLine } from "./wire/result-lines.js";

const PAGE = 1000;

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

/** A batch's result rows, page by page. */
async function* allResults(
  store: Store,
  batchId: string,
  status?: ItemStatus,
): AsyncIterable<ItemResultRow[]> {
  let after = -1;
  for (;;) {
    const page = await store.items.listResultRowsAfter(batchId, after, PAGE, status);
    yield page;
    if (page.length < PAGE) return;
    after = page[page.length - 1][RESULT_CELL.seq] as number;
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
    csvColumns: [...RESULT_CSV_COLUMNS, ...properties.map((p) => `json.${p}`)],
    csvRow: (r) => resultCsvCells(r, properties),
    jsonLine: resultJsonLine,
  });
  return reply
    .header("content-type", EXPORT_CONTENT_TYPES[format])
    .header("content-disposition", `attachment; filename="batch-${batch.id}-results.${format}"`)
    .header("cache-control", "no-store")
    .send(body);
}
