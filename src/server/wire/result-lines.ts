/**
 * An export's rows written straight from the store's `ItemResultText` (JSON fields as their
 * stored text): a JSONL line is built by concatenation, with the stored JSON text pasted in
 * rather than parsed and re-serialised, and CSV cells come from one column list. The result is
 * what `itemToWire` + JSON.stringify, and the CSV columns over it, would write (checked by
 * test/unit/result-lines.test.ts); measured in bench/README.md (issue 17.4).
 */
import { iso } from "../../domain/time.js";
import type { ItemResultText, ResponseUsage } from "../../store/types.js";

/** A string or null as a JSON value. */
function jsonString(v: string | null): string {
  return v === null ? "null" : JSON.stringify(v);
}

/** A number or null as a JSON value. */
function jsonNumber(v: number | null): string {
  return v === null ? "null" : JSON.stringify(v);
}

const LINE_BREAK = /[\n\r]/;

/**
 * A stored JSON text as a value of a line: as it is, unless it holds a raw line break (whitespace
 * between tokens: a raw line break cannot be inside a JSON string), then re-serialised so the row
 * stays on one line.
 */
function storedJson(text: string | null): string {
  if (text === null) return "null";
  return LINE_BREAK.test(text) ? JSON.stringify(JSON.parse(text)) : text;
}

/**
 * A result as one line of JSON, no line break in it: the fields of `itemToWire`
 * (wire/batches.ts), in its order; keep the two in step.
 */
export function resultJsonLine(r: ItemResultText): string {
  const failed = r.status === "failed";
  return (
    `{"custom_id":${JSON.stringify(r.customId)},"status":${JSON.stringify(r.status)}` +
    `,"response_content":${jsonString(r.responseContent)},"response_usage":${storedJson(r.responseUsage)}` +
    `,"error_code":${failed ? jsonNumber(r.errorCode) : "null"}` +
    `,"error_message":${failed ? jsonString(r.errorMessage) : "null"}` +
    `,"history_id":${jsonNumber(r.chatId)},"conversation_id":${jsonNumber(r.conversationId)}` +
    `,"processed_at":${jsonString(iso(r.processedAt))},"response_json":${storedJson(r.responseJson)}` +
    `,"attempts":${jsonNumber(r.attempts)},"agent_id":${JSON.stringify(r.agentId)}` +
    `,"context":${storedJson(r.context)},"metadata":${storedJson(r.metadata)}}`
  );
}

/** One CSV column: its header and its cell (`usage` is the row's parsed `response_usage`). */
type CsvColumn = readonly [header: string, cell: (r: ItemResultText, usage: ResponseUsage | null) => unknown];

/**
 * The CSV columns of an export, in order (documented in README.md; do not reorder, append): the
 * header row and every line come from this list, so a new column is one line here.
 */
export const RESULT_CSV: readonly CsvColumn[] = [
  ["custom_id", (r) => r.customId],
  ["status", (r) => r.status],
  ["response_content", (r) => r.responseContent],
  ["error_code", (r) => (r.status === "failed" ? r.errorCode : null)],
  ["error_message", (r) => (r.status === "failed" ? r.errorMessage : null)],
  ["prompt_tokens", (_, u) => u?.total_prompt_tokens ?? null],
  ["completion_tokens", (_, u) => u?.total_completion_tokens ?? null],
  ["total_tokens", (_, u) => u?.total_tokens ?? null],
  ["history_id", (r) => r.chatId],
  ["conversation_id", (r) => r.conversationId],
  ["processed_at", (r) => iso(r.processedAt)],
  ["attempts", (r) => r.attempts],
  ["agent_id", (r) => r.agentId],
  // Blank when no model call of the item reported a cached count.
  ["cached_prompt_tokens", (_, u) => u?.total_cached_prompt_tokens ?? null],
];

export const RESULT_CSV_COLUMNS: readonly string[] = RESULT_CSV.map(([header]) => header);

/**
 * A result's CSV cells: the `RESULT_CSV` columns, then one per `properties` entry (`json.<p>`):
 * that top-level property of the structured answer, null when absent.
 */
export function resultCsvCells(r: ItemResultText, properties: readonly string[]): unknown[] {
  const usage = r.responseUsage === null ? null : (JSON.parse(r.responseUsage) as ResponseUsage | null);
  const cells: unknown[] = RESULT_CSV.map(([, cell]) => cell(r, usage));
  if (properties.length === 0) return cells;
  const value: unknown = r.responseJson === null ? null : JSON.parse(r.responseJson);
  const object = typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
  // Own properties only: a schema property named like an Object method is absent, not the method.
  for (const p of properties) cells.push(Object.hasOwn(object, p) ? (object[p] ?? null) : null);
  return cells;
}
