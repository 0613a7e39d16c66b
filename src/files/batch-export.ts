/**
 * Streaming export of batch results as JSON, JSONL or CSV. The rows come from an async iterable
 * (the store's keyset pages), so only the current page is ever in memory; the stream pulls the
 * next row only when the client has taken the previous ones (backpressure).
 */
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { stringify } from "csv-stringify";

export type ExportFormat = "json" | "jsonl" | "csv";

export const EXPORT_FORMATS: readonly ExportFormat[] = ["json", "jsonl", "csv"];

export const EXPORT_CONTENT_TYPES: Record<ExportFormat, string> = {
  json: "application/json; charset=utf-8",
  jsonl: "application/x-ndjson; charset=utf-8",
  csv: "text/csv; charset=utf-8",
};

/**
 * A byte stream of `rows` in `format`. JSON is the API's envelope `{"data": [...], "message":
 * null, "error_code": 0}` without pagination; JSONL is one row per line; CSV has a header row of
 * `csvColumns` and one line per row (`csvRow` picks the cells; objects are written as JSON;
 * formula-like cells are escaped).
 */
export function exportStream<T extends object>(
  rows: AsyncIterable<T>,
  format: ExportFormat,
  csv: { columns: readonly string[]; row: (r: T) => unknown[] },
): Readable {
  if (format === "csv") {
    const cells = async function* () {
      for await (const r of rows) {
        yield csv.row(r).map((v) => (v !== null && typeof v === "object" ? JSON.stringify(v) : v));
      }
    };
    // Cells starting with = + - @ tab or CR get a leading ' (CSV injection: spreadsheets run them).
    const out = stringify({ header: true, columns: [...csv.columns], escape_formulas: true });
    // pipeline (not pipe) so that a failed read destroys the output instead of leaving it open.
    pipeline(Readable.from(cells()), out).catch(() => {});
    return out;
  }
  const text = async function* () {
    if (format === "json") yield '{"data":[';
    let first = true;
    for await (const r of rows) {
      if (format === "json") {
        yield `${first ? "" : ","}\n${JSON.stringify(r)}`;
      } else {
        yield `${JSON.stringify(r)}\n`;
      }
      first = false;
    }
    if (format === "json") yield '\n],"message":null,"error_code":0}\n';
  };
  return Readable.from(text(), { objectMode: false });
}
