/**
 * Streams read in arrays rather than one item at a time: each hop of an async iterator costs a
 * promise and a turn of the event loop, which for a cheap item (a parsed JSONL line) is a large
 * part of its cost (bench/io.mjs, issue 17.4).
 */

/** `items` in arrays of up to `size`; the items read before a failure are handed on before it. */
export async function* inArrays<T>(items: AsyncIterable<T>, size: number): AsyncIterable<T[]> {
  let batch: T[] = [];
  try {
    for await (const item of items) {
      batch.push(item);
      if (batch.length >= size) {
        yield batch;
        batch = [];
      }
    }
  } catch (err) {
    if (batch.length > 0) yield batch;
    throw err;
  }
  if (batch.length > 0) yield batch;
}
