/**
 * Streaming export of batch results as JSON, JSONL or CSV. The rows come a page at a time from an
 * async iterable (the store's keyset pages), so only the current page is ever in memory; the
 * stream pulls the next page only when the client has taken the previous ones (backpressure).
 */
import { Readable } from "node:stream";

export type ExportFormat = "json" | "jsonl" | "csv";

export const EXPORT_FORMATS: readonly ExportFormat[] = ["json", "jsonl", "csv"];

export const EXPORT_CONTENT_TYPES: Record<ExportFormat, string> = {
  json: "application/json; charset=utf-8",
  jsonl: "application/x-ndjson; charset=utf-8",
  csv: "text/csv; charset=utf-8",
};

/** How an export writes one row of `T`. */
export interface ExportWriters<T> {
  /** The CSV header row. */
  csvColumns: readonly string[];
  /** A row's CSV cells, in `csvColumns` order (written by `csvLine`). */
  csvRow: (r: T) => readonly unknown[];
  /** A row as one JSON object on one line (no line break in it): a JSONL line, a JSON element. */
  jsonLine: (r: T) => string;
}

/**
 * A byte stream of `pages` in `format`. JSON is the API's envelope `{"data": [...], "message":
 * null, "error_code": 0}` without pagination; JSONL is one row per line; CSV has a header row of
 * `csvColumns` and one line per row (see `csvLine`). Each page becomes one string, one chunk:
 * per-row chunks cost a promise and a stream push per row, which held exports to a few thousand
 * rows a second (measured in bench/README.md).
 */
export function exportStream<T extends object>(
  pages: AsyncIterable<T[]>,
  format: ExportFormat,
  writers: ExportWriters<T>,
): Readable {
  const text = async function* () {
    if (format === "csv") yield csvLine(writers.csvColumns);
    if (format === "json") yield '{"data":[';
    let first = true;
    for await (const page of pages) {
      if (page.length === 0) continue;
      let chunk = "";
      if (format === "csv") {
        for (const r of page) chunk += csvLine(writers.csvRow(r));
      } else if (format === "json") {
        for (const r of page) {
          chunk += `${first ? "\n" : ",\n"}${writers.jsonLine(r)}`;
          first = false;
        }
      } else {
        for (const r of page) chunk += `${writers.jsonLine(r)}\n`;
      }
      yield chunk;
    }
    if (format === "json") yield '\n],"message":null,"error_code":0}\n';
  };
  return Readable.from(text(), { objectMode: false });
}

/**
 * One CSV record and its line break: what csv-stringify (6.x) writes with
 * `{ escape_formulas: true }` and its other options at their defaults, for cells that are
 * strings, numbers, booleans, null or objects (written as JSON). Cells are joined by `,`; a cell
 * holding `"`, `,`, CR or LF is quoted (`"` doubled); a cell starting with = + @ tab CR, their
 * full-width forms, or `-` (unless the cell is a number) gets a leading `'` (CSV injection: a
 * spreadsheet would run it as a formula).
 *
 * Written by hand rather than calling csv-stringify per page because csv-stringify's per-cell
 * work (option objects, casts, separator searches) was most of the CSV export's CPU: bench/io.mjs
 * measured the whole export at ~20 µs per row with it and about half without (bench/README.md).
 * test/unit/result-lines.test.ts checks the output against csv-stringify itself.
 */
export function csvLine(cells: readonly unknown[]): string {
  let line = "";
  for (let i = 0; i < cells.length; i++) {
    if (i > 0) line += ",";
    line += csvField(cells[i]);
  }
  return `${line}\n`;
}

/** Characters that make csv-stringify quote a cell. */
const NEEDS_QUOTES = /[",\n\r]/;
const QUOTE = /"/g;

/** One cell of `csvLine`. */
export function csvField(v: unknown): string {
  let text: string;
  switch (typeof v) {
    case "string":
      text = v;
      break;
    case "number":
    case "bigint":
      // A number is written as JS writes it; a leading `-` is its sign, not a formula.
      return `${v}`;
    case "boolean":
      return v ? "1" : "";
    case "undefined":
      return "";
    case "object":
      if (v === null) return "";
      text = JSON.stringify(v);
      break;
    default:
      throw new Error(`a CSV cell must be a string, number, boolean, object or null, got ${typeof v}`);
  }
  if (text === "") return "";
  if (FORMULA_STARTS.has(text[0])) text = `'${text}`;
  if (!NEEDS_QUOTES.test(text)) return text;
  return `"${text.replace(QUOTE, '""')}"`;
}

/** First characters csv-stringify's `escape_formulas` escapes. */
const FORMULA_STARTS = new Set(["=", "+", "-", "@", "\t", "\r", "\uFF1D", "\uFF0B", "\uFF0D", "\uFF20"]);
