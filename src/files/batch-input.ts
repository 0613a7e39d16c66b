/**
 * Batch input files: CSV (header row required), JSON (a top-level array, or an object whose
 * `requests` member is the array) and JSONL (one object per line), read as streams one record at
 * a time, so a file of a million rows never sits in memory. Each record is mapped to the fields
 * of a batch request (custom column names via `column_mapping`; `context.*` / `metadata.*`
 * columns folded into objects) and checked on its own; the caller checks what needs the store.
 */
import { type Duplex, Readable } from "node:stream";
import { parser as jsonParser } from "stream-json";
import pick from "stream-json/filters/pick.js";
import streamArray from "stream-json/streamers/stream-array.js";
import { DEFAULT_MAX_RECORD_BYTES } from "../config/defaults.js";
import { csvRecordArrays } from "./csv-records.js";
import { ElementTooLargeError, elementCap } from "./json-element-cap.js";
import { LineTooLongError, readBoundedLines } from "./line-splitter.js";
import { inArrays } from "./object-arrays.js";

export type InputFormat = "csv" | "json" | "jsonl";

export const INPUT_FORMATS: readonly InputFormat[] = ["csv", "json", "jsonl"];

/** The request fields a column can be mapped to (besides `context.<key>` and `metadata.<key>`). */
export const MAPPABLE_FIELDS = [
  "custom_id",
  "message",
  "agent_id",
  "external_user_id",
  "name",
  "history_id",
] as const;

/**
 * Fields of an inline batch request that a file row cannot carry: a row (or column) naming one
 * is refused, naming it, rather than run without it.
 */
const UNCARRIED_FIELDS = ["attached_file_uuids", "webhook"] as const;

/** The whole file is unusable (not CSV/JSON, no header...): the create fails with a 400. */
export class InputFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InputFileError";
  }
}

/** One record of an input file; `row` counts data records from 1 (a CSV header is not a row). */
export type InputRecord = { row: number; record: Record<string, unknown> } | { row: number; error: string };

/** The format a file's name, content type or first bytes say it has, or null. */
export function detectInputFormat(fileName: string, contentType: string, head: Buffer): InputFormat | null {
  const ext = fileName.toLowerCase().match(/\.(csv|jsonl|ndjson|json)$/)?.[1];
  if (ext) return ext === "ndjson" ? "jsonl" : (ext as InputFormat);
  const type = contentType.toLowerCase();
  if (type.includes("csv")) return "csv";
  if (type.includes("ndjson") || type.includes("jsonl")) return "jsonl";
  const text = head
    .toString("utf8")
    .replace(/^\uFEFF/, "")
    .trimStart();
  if (text.startsWith("[")) return "json";
  if (text.startsWith("{")) {
    // One object per line is JSONL; an object spanning lines (or holding `requests`) is JSON.
    const firstLine = text.split("\n", 1)[0].trim();
    if (/^\{\s*"requests"\s*:/.test(text) || !firstLine.endsWith("}")) return "json";
    return "jsonl";
  }
  if (type.includes("json")) return "json";
  return text.length > 0 ? "csv" : null;
}

/**
 * Records are handed on in arrays of up to this many rather than one at a time: each hop of an
 * async iterator is a promise and a turn of the loop per row, and a CSV row is otherwise cheap
 * (bench/io.mjs, issue 17.4).
 */
export const RECORD_BATCH = 256;

/**
 * Reads the records of an input file in order, in arrays of up to `RECORD_BATCH` (never empty); a
 * CSV record, JSONL line or JSON array element over `maxRecordBytes` ends the read with an
 * InputFileError naming its line or element (`json-element-cap.ts`).
 */
export function readInputRecords(
  source: Readable,
  format: InputFormat,
  maxRecordBytes = DEFAULT_MAX_RECORD_BYTES,
): AsyncIterable<InputRecord[]> {
  switch (format) {
    case "csv":
      return readCsv(source, maxRecordBytes);
    case "jsonl":
      return inArrays(readJsonl(source, maxRecordBytes), RECORD_BATCH);
    case "json":
      return inArrays(readJson(source, maxRecordBytes), RECORD_BATCH);
  }
}

async function* readCsv(source: Readable, maxRecordBytes: number): AsyncIterable<InputRecord[]> {
  let row = 0;
  try {
    for await (const records of csvRecordArrays(source, RECORD_BATCH, maxRecordBytes)) {
      const out: InputRecord[] = new Array(records.length);
      for (let i = 0; i < records.length; i++) out[i] = { row: ++row, record: records[i] };
      yield out;
    }
  } catch (err) {
    if (err instanceof InputFileError) throw err;
    const e = err as Error & { lines?: number };
    throw new InputFileError(`CSV parse error${e.lines ? ` on line ${e.lines}` : ""}: ${e.message}`);
  }
}

async function* readJsonl(source: Readable, maxRecordBytes: number): AsyncIterable<InputRecord> {
  try {
    yield* jsonlRecords(source, maxRecordBytes);
  } catch (err) {
    if (err instanceof LineTooLongError) throw new InputFileError(err.message);
    throw err;
  }
}

async function* jsonlRecords(source: Readable, maxRecordBytes: number): AsyncIterable<InputRecord> {
  let row = 0;
  for await (const { text: raw } of readBoundedLines(source, maxRecordBytes)) {
    const line = row === 0 ? raw.replace(/^\uFEFF/, "") : raw;
    if (line.trim() === "") continue;
    row++;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      yield { row, error: `invalid JSON: ${(err as Error).message}` };
      continue;
    }
    yield asRecord(row, value);
  }
}

async function* readJson(source: Readable, maxRecordBytes: number): AsyncIterable<InputRecord> {
  // Peek at the first significant character: `[` is a bare array, `{` holds `requests`. One
  // iterator throughout: leaving a for-await loop early would destroy the source.
  const chunks = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const peeked: Buffer[] = [];
  let first = "";
  while (first === "") {
    const next = await chunks.next();
    if (next.done) break;
    peeked.push(next.value);
    const text = Buffer.concat(peeked)
      .toString("utf8")
      .replace(/^\uFEFF/, "")
      .trimStart();
    if (text.length > 0) first = text[0];
  }
  if (first !== "[" && first !== "{") {
    throw new InputFileError('a JSON input file must be an array of requests or {"requests": [...]}');
  }
  async function* replay() {
    yield* peeked;
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value;
  }
  const stages: Duplex[] =
    first === "["
      ? [jsonParser.asStream(), elementCap(maxRecordBytes), streamArray.asStream()]
      : [
          jsonParser.asStream(),
          pick.asStream({ filter: "requests" }),
          elementCap(maxRecordBytes),
          streamArray.asStream(),
        ];
  const last = stages[stages.length - 1];
  let upstream: Readable = Readable.from(replay());
  for (const stage of stages) {
    // An error of any stage ends the last one, so the loop below sees it.
    upstream.on("error", (err) => last.destroy(err));
    upstream = upstream.pipe(stage);
  }
  const values = last as AsyncIterable<{ key: number; value: unknown }>;
  let row = 0;
  try {
    for await (const { value } of values) yield asRecord(++row, value);
  } catch (err) {
    if (err instanceof ElementTooLargeError) throw new InputFileError(err.message);
    throw new InputFileError(`JSON parse error after row ${row}: ${(err as Error).message}`);
  }
}

function asRecord(row: number, value: unknown): InputRecord {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { row, error: "a request must be a JSON object" };
  }
  return { row, record: value as Record<string, unknown> };
}

/** Which source column feeds each request field: `{custom_id: "ID", "context.topic": "Topic"}`. */
export type ColumnMapping = Record<string, string>;

/** The fields of one request, checked for what a row alone can tell. */
export interface InputRequest {
  customId: string;
  message: string;
  agentId: string | null;
  externalUserId: string | null;
  name: string | null;
  historyId: number | null;
  context: Record<string, unknown> | null;
  metadata: Record<string, unknown> | null;
}

/**
 * The `context` / `metadata` object of a record: its own object member (unless a column is
 * mapped from it), then its `<group>.<key>` columns not mapped elsewhere, then the mapping's
 * `<group>.<key>` targets; null when empty (empty cells count as absent).
 */
function foldGroup(
  record: Record<string, unknown>,
  group: "context" | "metadata",
  mappedSources: Set<string>,
  targets: [string, string][],
): Record<string, unknown> | null {
  const folded: Record<string, unknown> = {};
  let any = false;
  const own = record[group];
  if (own !== null && typeof own === "object" && !Array.isArray(own) && !mappedSources.has(group)) {
    Object.assign(folded, own);
    any = Object.keys(folded).length > 0;
  }
  const prefix = `${group}.`;
  for (const column of Object.keys(record)) {
    if (!column.startsWith(prefix) || mappedSources.has(column)) continue;
    const value = record[column];
    if (present(value)) {
      folded[column.slice(prefix.length)] = value;
      any = true;
    }
  }
  for (const [key, source] of targets) {
    const value = record[source];
    if (present(value)) {
      folded[key] = value;
      any = true;
    }
  }
  return any ? folded : null;
}

/** Checks a mapping's targets; returns the first bad key, or null. */
export function invalidMappingKey(mapping: ColumnMapping): string | null {
  for (const key of Object.keys(mapping)) {
    if ((MAPPABLE_FIELDS as readonly string[]).includes(key)) continue;
    if (/^(context|metadata)\.[^.].*$/.test(key)) continue;
    return key;
  }
  return null;
}

/** Empty CSV cells count as absent. */
function present(v: unknown): boolean {
  return v !== undefined && v !== null && v !== "";
}

function text(v: unknown): string | null {
  if (!present(v)) return null;
  return typeof v === "string" ? v : typeof v === "number" || typeof v === "boolean" ? String(v) : null;
}

/** What a mapping says, worked out once per mapping rather than once per row. */
interface MappingPlan {
  mappedSources: Set<string>;
  /** `context.<key>` / `metadata.<key>` targets: [key, source column], in the mapping's order. */
  folds: Record<"context" | "metadata", [string, string][]>;
}

const plans = new WeakMap<ColumnMapping, MappingPlan>();

function planOf(mapping: ColumnMapping): MappingPlan {
  let plan = plans.get(mapping);
  if (plan === undefined) {
    plan = { mappedSources: new Set(Object.values(mapping)), folds: { context: [], metadata: [] } };
    for (const [target, source] of Object.entries(mapping)) {
      for (const group of ["context", "metadata"] as const) {
        if (target.startsWith(`${group}.`)) plan.folds[group].push([target.slice(group.length + 1), source]);
      }
    }
    plans.set(mapping, plan);
  }
  return plan;
}

/**
 * Maps a record to a request and checks it. Unmapped columns named like a request field are
 * used as they are; `context.*` / `metadata.*` columns (and `context` / `metadata` objects in
 * JSON) fold into objects; a request field files cannot carry (`attached_file_uuids`, `webhook`)
 * is an error naming it; other columns are ignored.
 */
export function toInputRequest(
  record: Record<string, unknown>,
  mapping: ColumnMapping,
): InputRequest | { error: string } {
  const { mappedSources, folds } = planOf(mapping);
  const field = (name: string): unknown => {
    const source = mapping[name];
    return source !== undefined ? record[source] : record[name];
  };
  const label = (name: string) =>
    mapping[name] !== undefined ? `${name} (column "${mapping[name]}")` : name;

  for (const key of UNCARRIED_FIELDS) {
    if (present(record[key]) && !mappedSources.has(key)) {
      return {
        error: `${key}: not read from input files (send the batch's requests inline to use it)`,
      };
    }
  }
  const customId = text(field("custom_id"));
  if (customId === null) return { error: `${label("custom_id")} is required` };
  if (customId.length > 256) return { error: `${label("custom_id")} is longer than 256 characters` };
  const message = field("message");
  if (!present(message)) return { error: `${label("message")} is required` };
  if (typeof message !== "string") return { error: `${label("message")} must be a string` };
  const out: InputRequest = {
    customId,
    message,
    agentId: text(field("agent_id")),
    externalUserId: text(field("external_user_id")),
    name: text(field("name")),
    historyId: null,
    context: null,
    metadata: null,
  };
  for (const key of ["external_user_id", "name"] as const) {
    const v = key === "name" ? out.name : out.externalUserId;
    if (v !== null && v.length > 256) return { error: `${label(key)} is longer than 256 characters` };
  }
  const history = field("history_id");
  if (present(history)) {
    const id = typeof history === "number" ? history : Number(String(history).trim());
    if (!Number.isSafeInteger(id) || id < 1)
      return { error: `${label("history_id")} must be a positive integer` };
    out.historyId = id;
  }
  for (const group of ["context", "metadata"] as const) {
    const folded = foldGroup(record, group, mappedSources, folds[group]);
    if (folded !== null) out[group] = folded;
  }
  return out;
}
