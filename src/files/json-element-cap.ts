/**
 * The per-record size cap of JSON-array input files: a stage between stream-json's token stream
 * and its array streamer that measures each array element as its tokens stream by (string and
 * number text, quotes, literals and structure) and ends the read as soon as one passes
 * `maxRecordBytes`, before the element is assembled in memory.
 */
import { Transform } from "node:stream";

export class ElementTooLargeError extends Error {
  constructor(
    /** The element's 0-based index in the array. */
    readonly index: number,
    readonly maxBytes: number,
  ) {
    super(`array element ${index} (request ${index + 1}) is larger than the limit of ${maxBytes} bytes`);
    this.name = "ElementTooLargeError";
  }
}

interface Token {
  name: string;
  value?: unknown;
}

/** Bytes a token adds to its element; packed values repeat their streamed chunks and add none. */
function tokenBytes(token: Token): number {
  switch (token.name) {
    case "stringChunk":
    case "numberChunk":
      return Buffer.byteLength(String(token.value));
    case "startString":
    case "startKey":
    case "endString":
    case "endKey":
    case "startObject":
    case "endObject":
    case "startArray":
    case "endArray":
      return 1;
    case "trueValue":
    case "nullValue":
      return 4;
    case "falseValue":
      return 5;
    default:
      return 0;
  }
}

/** Tokens that end a value (the element itself when it is at depth 1 of the array). */
const VALUE_ENDS = new Set([
  "endObject",
  "endArray",
  "endString",
  "endNumber",
  "trueValue",
  "falseValue",
  "nullValue",
]);

/** The cap stage for the tokens of one top-level array (stream-json's parser output, packed or not). */
export function elementCap(maxBytes: number): Transform {
  let depth = 0;
  let size = 0;
  let index = 0;
  return new Transform({
    objectMode: true,
    transform(token: Token, _encoding, done) {
      // Depth 1 is inside the array: its own brackets are no element's.
      if (token.name === "endObject" || token.name === "endArray") depth--;
      if (depth >= 1) size += tokenBytes(token);
      if (token.name === "startObject" || token.name === "startArray") depth++;
      if (size > maxBytes) return done(new ElementTooLargeError(index, maxBytes));
      // An element ends when a value closes back at the array's own depth.
      if (depth === 1 && VALUE_ENDS.has(token.name)) {
        index++;
        size = 0;
      }
      done(null, token);
    },
  });
}
