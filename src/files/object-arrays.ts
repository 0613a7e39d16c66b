/**
 * Streams read in arrays rather than one item at a time: each hop of an async iterator costs a
 * promise and a turn of the event loop, which for a cheap item (a parsed CSV row) is a large
 * part of its cost (bench/io.mjs, issue 17.4).
 */
import type { Readable } from "node:stream";

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

/**
 * The objects of an object-mode stream in arrays of up to `size`, taken with `read()` as they are
 * buffered (one wait per buffer-full, not per object). Leaving early destroys the stream.
 */
export async function* objectArrays(stream: Readable, size: number): AsyncIterable<unknown[]> {
  let failure: Error | null = null;
  let ended = false;
  let wake: (() => void) | null = null;
  const signal = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const onEnd = () => {
    ended = true;
    signal();
  };
  const onError = (err: Error) => {
    failure = err;
    signal();
  };
  // Closed without an end or an error (destroyed): as the stream's own async iterator does.
  const onClose = () => {
    if (!ended) onError(failure ?? new Error("the input stream closed before its end"));
  };
  stream.on("readable", signal);
  stream.on("end", onEnd);
  stream.on("error", onError);
  stream.on("close", onClose);
  try {
    let batch: unknown[] = [];
    for (;;) {
      // A destroyed (failed) stream hands on nothing more, as its own async iterator does.
      while (batch.length < size && !stream.destroyed) {
        const next: unknown = stream.read();
        if (next === null) break;
        batch.push(next);
      }
      if (batch.length >= size || (batch.length > 0 && (ended || failure))) {
        yield batch;
        batch = [];
        continue;
      }
      if (failure) throw failure;
      if (ended) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    stream.off("readable", signal);
    stream.off("end", onEnd);
    stream.off("error", onError);
    stream.off("close", onClose);
    if (!ended) stream.destroy();
  }
}
