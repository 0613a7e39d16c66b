/**
 * The records of a CSV input file, read as a stream into arrays of objects keyed by the header.
 *
 * Written here rather than taken from csv-parse because of measured cost: csv-parse walks the
 * input a byte at a time through several helper calls per byte, ~3.7 µs of CPU per 75-byte row
 * on the 2-vCPU bench VM, about 30 % of the whole ingest (bench/io.mjs, issue 17.4). This one
 * scans a decoded string and slices whole fields out (~0.5 µs per row).
 *
 * It reads the same records, and refuses the same files, as csv-parse 6 with the options the
 * service used (`columns: true, bom: true, skip_empty_lines: true, relax_column_count: true,
 * max_record_size`): `"` quotes and doubles to escape; the record delimiter is the first of
 * `\r\n`, `\n`, `\r` met outside quotes, and only it ends records from then on; a line with
 * nothing on it is skipped; a quote inside an unquoted field, anything but a delimiter after a
 * closing quote, and an unclosed quote at the end are errors; the first record names the
 * columns, a shorter record lacks the missing ones, a longer one's extra fields are left out (as
 * csv-parse does), a repeated column name keeps the last field. A UTF-8 BOM is skipped; a UTF-16LE
 * BOM switches the decoding. test/unit/csv-records.test.ts compares both on generated input.
 */
import { StringDecoder } from "node:string_decoder";

/** A CSV the parser refuses; `lines` is the line it was found on (1-based). */
export class CsvSyntaxError extends Error {
  constructor(
    message: string,
    readonly lines: number,
  ) {
    super(message);
    this.name = "CsvSyntaxError";
  }
}

const COMMA = 44;
const QUOTE = 34;
const CR = 13;
const LF = 10;

/** Line breaks in `text[from, to)`: `\n`, and `\r` not followed by `\n`. */
function lineBreaks(text: string, from: number, to: number): number {
  let count = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c === LF || (c === CR && text.charCodeAt(i + 1) !== LF)) count++;
  }
  return count;
}

/** Parses records out of decoded text; keeps an incomplete last record for the next text. */
export class CsvRecordParser {
  private text = "";
  private delimiter: string | null = null;
  private columns: string[] | null = null;
  /** Line number at the start of `text`. */
  private line = 1;
  private started = false;
  private head: Buffer = Buffer.alloc(0);
  private bomChecked = false;
  private decoder = new StringDecoder("utf8");
  /** While `feed` scans: its text, whether the input ends with it, and the record's fields. */
  private scan = "";
  private scanEnd = false;
  private readonly fields: string[] = [];

  constructor(private readonly maxRecordSize: number) {}

  /** Takes the next bytes; complete records are pushed onto `out`. */
  write(bytes: Buffer, out: Record<string, string>[]): void {
    if (!this.started) {
      // The first two bytes tell a UTF-16LE BOM; until they came, nothing is decoded.
      const head = this.head.length > 0 ? Buffer.concat([this.head, bytes]) : bytes;
      if (head.length < 2) {
        this.head = head;
        return;
      }
      this.started = true;
      this.head = Buffer.alloc(0);
      bytes = head;
      if (bytes[0] === 0xff && bytes[1] === 0xfe) {
        this.decoder = new StringDecoder("utf16le");
        bytes = bytes.subarray(2);
      }
    }
    this.feed(this.decoder.write(bytes), false, out);
  }

  /** The input ended: the last record (if any) is pushed onto `out`. */
  end(out: Record<string, string>[]): void {
    const head = this.started ? "" : this.decoder.write(this.head);
    this.feed(head + this.decoder.end(), true, out);
  }

  private feed(chunk: string, end: boolean, out: Record<string, string>[]): void {
    let text = this.text.length === 0 ? chunk : this.text + chunk;
    if (!this.bomChecked && text.length > 0) {
      this.bomChecked = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    this.scan = text;
    this.scanEnd = end;
    const fields = this.fields;
    let pos = 0;
    while (pos < text.length) {
      fields.length = 0;
      const next = this.record(pos);
      if (next === -1) break;
      this.emit(fields, out);
      pos = next;
    }
    if (pos > 0) this.line += lineBreaks(text, 0, pos);
    this.text = pos >= text.length ? "" : text.slice(pos);
    this.scan = "";
  }

  private emit(fields: string[], out: Record<string, string>[]): void {
    if (fields.length === 0) return; // an empty line
    if (this.columns === null) {
      this.columns = fields.slice();
      return;
    }
    const columns = this.columns;
    const record: Record<string, string> = {};
    const n = Math.min(fields.length, columns.length);
    for (let i = 0; i < n; i++) record[columns[i]] = fields[i];
    out.push(record);
  }

  /** An error at `text[at]` (`text` begins on `this.line`). */
  private errorIn(text: string, at: number, message: string): CsvSyntaxError {
    const line = this.line + lineBreaks(text, 0, at);
    return new CsvSyntaxError(`${message} at line ${line}`, line);
  }

  /** Whether `text` at `at` starts a record delimiter; -1: cannot tell before more text comes. */
  private delimiterAt(text: string, at: number, end: boolean): number {
    const c = text.charCodeAt(at);
    if (c !== CR && c !== LF) return 0;
    let d = this.delimiter;
    if (d === null) {
      if (c === LF) d = "\n";
      else if (at + 1 < text.length) d = text.charCodeAt(at + 1) === LF ? "\r\n" : "\r";
      else if (end) d = "\r";
      else return -1;
      this.delimiter = d;
    }
    if (d.length === 2 && c === CR && at + 1 >= text.length && !end) return -1;
    return text.startsWith(d, at) ? d.length : 0;
  }

  /**
   * Reads the record at `pos` of the scanned text into `fields` (none for an empty line);
   * returns where the next starts, or -1 when the text ends inside it (it is read again once
   * more text came).
   */
  private record(pos: number): number {
    const text = this.scan;
    const fields = this.fields;
    const len = text.length;
    let size = 0;
    const start = pos;
    // An empty line (no field, not even a quoted empty one) is skipped.
    const first = this.delimiterAt(text, pos, this.scanEnd);
    if (first === -1) return -1;
    if (first > 0) return pos + first;
    for (;;) {
      // Each reads the field at `pos` of the record at `start`, `size` long so far, onto `fields`.
      const after =
        text.charCodeAt(pos) === QUOTE ? this.quoted(pos, start, size) : this.unquoted(pos, start, size);
      if (after === -1) return -1;
      size += fields[fields.length - 1].length;
      if (size > this.maxRecordSize) this.tooLarge(text, start);
      if (after >= len) return len;
      if (text.charCodeAt(after) !== COMMA) return after + (this.delimiter as string).length;
      pos = after + 1;
    }
  }

  /**
   * Reads the quoted field at `pos` onto `fields`; returns the index after its closing quote
   * (checked to be followed by a delimiter or the end), or -1 when the text ends inside it.
   */
  private quoted(pos: number, start: number, size: number): number {
    const text = this.scan;
    const end = this.scanEnd;
    const len = text.length;
    let from = pos + 1;
    let value = "";
    let q: number;
    for (;;) {
      q = text.indexOf('"', from);
      if (q === -1) return this.incomplete(text, start, size + value.length + len - from, end);
      if (q + 1 >= len && !end) return this.incomplete(text, start, size + value.length + q - from, end);
      if (text.charCodeAt(q + 1) !== QUOTE) {
        value += text.slice(from, q);
        break;
      }
      value += text.slice(from, q + 1);
      from = q + 2;
    }
    const after = q + 1;
    if (after < len && text.charCodeAt(after) !== COMMA) {
      const d = this.delimiterAt(text, after, end);
      if (d === -1) return -1;
      if (d === 0) {
        throw this.errorIn(
          text,
          after,
          `Invalid Closing Quote: got "${text[after]}" instead of delimiter, record delimiter, trimable character (if activated) or comment`,
        );
      }
    }
    this.fields.push(value);
    return after;
  }

  /** Reads the unquoted field at `pos` onto `fields`; returns the index after it, or -1. */
  private unquoted(pos: number, start: number, size: number): number {
    const text = this.scan;
    const end = this.scanEnd;
    const fields = this.fields;
    const len = text.length;
    let i = pos;
    for (; i < len; i++) {
      const c = text.charCodeAt(i);
      if (c === COMMA) break;
      if (c === QUOTE) {
        throw this.errorIn(
          text,
          i,
          `Invalid Opening Quote: a quote is found on field ${fields.length}, value is ${JSON.stringify(text.slice(pos, i))}`,
        );
      }
      if (c === CR || c === LF) {
        const d = this.delimiterAt(text, i, end);
        if (d === -1) return -1;
        if (d > 0) break;
      }
    }
    if (i >= len && !end) return this.incomplete(text, start, size + i - pos, end);
    fields.push(text.slice(pos, i));
    return i;
  }

  /** The text ends inside a record: fine (read it again later) unless it is already too large. */
  private incomplete(text: string, start: number, size: number, end: boolean): number {
    if (size > this.maxRecordSize) this.tooLarge(text, start);
    if (end)
      throw this.errorIn(
        text,
        text.length,
        "Quote Not Closed: the parsing is finished with an opening quote",
      );
    return -1;
  }

  private tooLarge(text: string, start: number): never {
    throw this.errorIn(
      text,
      start,
      `Max Record Size: record exceed the maximum number of tolerated bytes of ${this.maxRecordSize}`,
    );
  }
}

/**
 * The records of a CSV byte stream in arrays of up to `size` (never empty), keyed by the header
 * row. Throws CsvSyntaxError for a file it refuses, at once: the records parsed from the same
 * bytes before the error are not handed on (a file refused in its first bytes is refused before
 * any of it is stored).
 */
export async function* csvRecordArrays(
  source: AsyncIterable<Buffer>,
  size: number,
  maxRecordSize: number,
): AsyncIterable<Record<string, string>[]> {
  const parser = new CsvRecordParser(maxRecordSize);
  let out: Record<string, string>[] = [];
  for await (const bytes of source) {
    parser.write(bytes, out);
    while (out.length >= size) {
      yield out.slice(0, size);
      out = out.slice(size);
    }
  }
  parser.end(out);
  while (out.length > 0) {
    yield out.slice(0, size);
    out = out.slice(size);
  }
}
