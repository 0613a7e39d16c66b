/** Streams of at most this many deltas, however long the reply: enough to look like streaming. */
const TARGET_CHUNKS = 16;
const MIN_CHUNK_CHARS = 4;

/**
 * Cuts a whole reply into the deltas a stream delivers, preferably after a space, for the
 * streams that are made up rather than generated (the simulated provider, the mock's SSE).
 * Joining the chunks gives back the text exactly.
 */
export function splitForStreaming(text: string): string[] {
  const length = text.length;
  if (length === 0) return [];
  const size = Math.max(MIN_CHUNK_CHARS, Math.ceil(length / TARGET_CHUNKS));
  const chunks: string[] = [];
  let start = 0;
  while (start < length) {
    let end = start + size;
    if (end >= length) {
      chunks.push(text.slice(start));
      break;
    }
    const space = text.lastIndexOf(" ", end - 1);
    if (space > start) end = space + 1;
    else if (isHighSurrogate(text.charCodeAt(end - 1))) end++;
    chunks.push(text.slice(start, end));
    start = end;
  }
  return chunks;
}

/** Cutting between the halves of a surrogate pair would put half an emoji in each delta. */
function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
