/**
 * Lines of a byte stream, one at a time, each at most `maxBytes` long: unlike node:readline,
 * which buffers a line however long it grows, a file that is one endless line fails as soon as
 * the line passes the bound, naming it, instead of filling memory.
 */
import type { Readable } from "node:stream";

/** A line longer than the bound; `line` counts from 1. */
export class LineTooLongError extends Error {
  constructor(
    readonly line: number,
    readonly maxBytes: number,
  ) {
    super(`line ${line} is longer than the limit of ${maxBytes} bytes`);
    this.name = "LineTooLongError";
  }
}

/** The line held in `parts` without a trailing \r, checked against the bound. */
function lineText(parts: Buffer[], line: number, maxBytes: number): string {
  let bytes = parts.length === 1 ? parts[0] : Buffer.concat(parts);
  if (bytes.length > 0 && bytes[bytes.length - 1] === 13) bytes = bytes.subarray(0, -1);
  if (bytes.length > maxBytes) throw new LineTooLongError(line, maxBytes);
  return bytes.toString("utf8");
}

/** Every line (without its `\n` or `\r\n`) with its 1-based number; the last may lack a newline. */
export async function* boundedLines(
  source: AsyncIterable<Buffer | string>,
  maxBytes: number,
): AsyncIterable<{ text: string; line: number }> {
  let parts: Buffer[] = [];
  let pending = 0;
  let line = 0;
  for await (const chunk of source) {
    let buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    for (let nl = buf.indexOf(10); nl !== -1; nl = buf.indexOf(10)) {
      parts.push(buf.subarray(0, nl));
      line++;
      yield { text: lineText(parts, line, maxBytes), line };
      parts = [];
      pending = 0;
      buf = buf.subarray(nl + 1);
    }
    pending += buf.length;
    // +1: a line may end in the \r of a \r\n split across chunks.
    if (pending > maxBytes + 1) throw new LineTooLongError(line + 1, maxBytes);
    if (buf.length > 0) parts.push(buf);
  }
  if (pending > 0) yield { text: lineText(parts, line + 1, maxBytes), line: line + 1 };
}

/** The same over a Readable (a file being read from storage). */
export function readBoundedLines(source: Readable, maxBytes: number) {
  return boundedLines(source as AsyncIterable<Buffer | string>, maxBytes);
}
