/**
 * An export's rows written straight from the store's `ItemResultRow` arrays (JSON fields as their
 * stored text): a JSONL line is built by concatenation, with the stored JSON text pasted in
 * rather than parsed and re-serialised, and CSV cells come from one column list. The result is
 * what `itemToWire` + JSON.stringify, and the CSV columns over it, would write (checked by
 * test/unit/result-lines.test.ts); measured in bench/README.md (issue 17.4).
 */
import { iso } from "../../domain/time.js";
import { type ItemResultRow, RESULT_CELL } from "../../store/items.js";

/**
 * What makes `JSON.stringify` escape a string (or write it otherwise than between two quotes): a
 * quote, a backslash, a control character, a surrogate (paired ones are written as they are, but
 * they are rare enough to take the slow path too). Written as the complement of the units that
 * need nothing: space to U+D7FF and U+E000 to U+FFFF, less the quote and the backslash.
 */
const NEEDS_ESCAPE = /[^ !#-[\]-\ud7ff\ue000-\uffff]/;

/**
 * A string as a JSON value: between quotes when nothing in it needs escaping, else
 * JSON.stringify. About half the cost of JSON.stringify on the short strings of a row (measured,
 * bench/README.md issue 17.4 JSONL); the same text (test/unit/result-lines.test.ts).
 */
export function jsonStringValue(v: string): string {
  return NEEDS_ESCAPE.test(v) ? JSON.stringify(v) : `"${v}"`;
}

/** A string or null as a JSON value. */
function jsonString(v: string | null): string {
  return v === null ? "null" : jsonStringValue(v);
}

/** A number or null as a JSON value (a finite number is written as JS writes it, as JSON.stringify does). */
function jsonNumber(v: number | null): string {
  return v !== null && Number.isFinite(v) ? `${v}` : "null";
}

/**
 * A stored JSON text as a value of a line: as it is, unless it holds a raw line break (whitespace
 * between tokens: a raw line break cannot be inside a JSON string), then re-serialised so the row
 * stays on one line.
 */
function storedJson(text: string | null): string {
  if (text === null) return "null";
  return text.indexOf("\n") === -1 && text.indexOf("\r") === -1 ? text : JSON.stringify(JSON.parse(text));
}

/** The `"status":…` members, one per status (a status is one of a few known words). */
const STATUS_MEMBERS = new Map<unknown, string>();

function statusMember(status: unknown): string {
  let member = STATUS_MEMBERS.get(status);
  if (member === undefined) {
    member = `,"status":${JSON.stringify(status)}`;
    if (STATUS_MEMBERS.size < 32) STATUS_MEMBERS.set(status, member);
  }
  return member;
}

const C = RESULT_CELL;

/**
 * A result as one line of JSON, no line break in it: the fields of `itemToWire`
 * (wire/batches.ts), in its order; keep the two in step. The line is one concatenation of the
 * cells' texts: no object, no JSON.stringify of the row (bench/README.md, issue 17.4).
 */
export function resultJsonLine(r: ItemResultRow): string {
  const failed = r[C.status] === "failed";
  return (
    '{"custom_id":' +
    jsonString(r[C.customId] as string) +
    statusMember(r[C.status]) +
    ',"response_content":' +
    jsonString(r[C.responseContent] as string | null) +
    ',"response_usage":' +
    storedJson(r[C.responseUsage] as string | null) +
    ',"error_code":' +
    (failed ? jsonNumber(r[C.errorCode] as number | null) : "null") +
    ',"error_message":' +
    (failed ? jsonString(r[C.errorMessage] as string | null) : "null") +
    ',"history_id":' +
    jsonNumber(r[C.chatId] as number | null) +
    ',"conversation_id":' +
    jsonNumber(r[C.conversationId] as number | null) +
    ',"processed_at":' +
    processedAt(r[C.processedAt] as number | null) +
    ',"response_json":' +
    storedJson(r[C.responseJson] as string | null) +
    ',"attempts":' +
    jsonNumber(r[C.attempts] as number) +
    ',"agent_id":' +
    jsonString(r[C.agentId] as string) +
    ',"context":' +
    storedJson(r[C.context] as string | null) +
    ',"metadata":' +
    storedJson(r[C.metadata] as string | null) +
    "}"
  );
}

/** `processed_at` as a JSON value: `iso` text has nothing to escape. */
function processedAt(ms: number | null): string {
  return ms === null ? "null" : `"${iso(ms)}"`;
}

/**
 * The stored `response_usage` text of a row as an object whose members the CSV's token columns
 * read; an empty one when there is no usage, or when it is not a JSON object (each column is
 * then blank). Parsed once a row for its four columns: reading the members in SQL instead
 * (SQLite's `->`) parsed the usage once per member, ~3 µs of CPU a row against ~1.7 for this
 * (bench/README.md, "The CSV export's token counts").
 */
function usageOf(text: string | null): Record<string, unknown> {
  if (text === null) return NO_USAGE;
  let usage: unknown;
  try {
    usage = JSON.parse(text);
  } catch {
    return NO_USAGE;
  }
  return typeof usage === "object" && usage !== null ? (usage as Record<string, unknown>) : NO_USAGE;
}

const NO_USAGE: Record<string, unknown> = Object.freeze({});

/** A member of the usage as a CSV cell: its value, null when absent (own members only). */
function usageCell(usage: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(usage, key) ? (usage[key] ?? null) : null;
}

/** One CSV column: its header and its cell, from the row and its parsed usage (`usageOf`). */
type CsvColumn = readonly [
  header: string,
  cell: (r: ItemResultRow, usage: Record<string, unknown>) => unknown,
];

const failedOnly = (i: number) => (r: ItemResultRow) => (r[C.status] === "failed" ? r[i] : null);

/**
 * The CSV columns of an export, in order (documented in README.md; do not reorder, append): the
 * header row and every line come from this list, so a new column is one line here.
 */
export const RESULT_CSV: readonly CsvColumn[] = [
  ["custom_id", (r) => r[C.customId]],
  ["status", (r) => r[C.status]],
  ["response_content", (r) => r[C.responseContent]],
  ["error_code", failedOnly(C.errorCode)],
  ["error_message", failedOnly(C.errorMessage)],
  ["prompt_tokens", (_, u) => usageCell(u, "total_prompt_tokens")],
  ["completion_tokens", (_, u) => usageCell(u, "total_completion_tokens")],
  ["total_tokens", (_, u) => usageCell(u, "total_tokens")],
  ["history_id", (r) => r[C.chatId]],
  ["conversation_id", (r) => r[C.conversationId]],
  ["processed_at", (r) => iso(r[C.processedAt] as number | null)],
  ["attempts", (r) => r[C.attempts]],
  ["agent_id", (r) => r[C.agentId]],
  // Blank when no model call of the item reported a cached count.
  ["cached_prompt_tokens", (_, u) => usageCell(u, "total_cached_prompt_tokens")],
];

export const RESULT_CSV_COLUMNS: readonly string[] = RESULT_CSV.map(([header]) => header);

/**
 * A result's CSV cells: the `RESULT_CSV` columns, then one per `properties` entry (`json.<p>`):
 * that top-level property of the structured answer, null when absent.
 */
export function resultCsvCells(r: ItemResultRow, properties: readonly string[]): unknown[] {
  const usage = usageOf(r[C.responseUsage] as string | null);
  const cells: unknown[] = RESULT_CSV.map(([, cell]) => cell(r, usage));
  if (properties.length === 0) return cells;
  const text = r[C.responseJson] as string | null;
  const value: unknown = text === null ? null : JSON.parse(text);
  const object = typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
  // Own properties only: a schema property named like an Object method is absent, not the method.
  for (const p of properties) cells.push(Object.hasOwn(object, p) ? (object[p] ?? null) : null);
  return cells;
}
