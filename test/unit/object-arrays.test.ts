import { PassThrough, Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { inArrays, objectArrays } from "../../src/files/object-arrays.js";

async function collect<T>(arrays: AsyncIterable<T[]>): Promise<T[][]> {
  const out: T[][] = [];
  for await (const a of arrays) out.push(a);
  return out;
}

describe("objectArrays", () => {
  it("hands on every object in order, in non-empty arrays of at most the size", async () => {
    const items = Array.from({ length: 1000 }, (_, i) => ({ i }));
    const arrays = await collect(objectArrays(Readable.from(items, { highWaterMark: 64 }), 256));
    expect(arrays.flat()).toEqual(items);
    for (const a of arrays) expect(a.length).toBeGreaterThan(0);
    expect(Math.max(...arrays.map((a) => a.length))).toBeLessThanOrEqual(256);
  });

  it("waits for objects written later, and ends with the stream", async () => {
    const stream = new PassThrough({ objectMode: true });
    const read = collect(objectArrays(stream, 3));
    for (let i = 0; i < 7; i++) {
      stream.write(i);
      await new Promise((r) => setImmediate(r));
    }
    stream.end();
    expect((await read).flat()).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it("throws the stream's error, after the objects read before it", async () => {
    const stream = new PassThrough({ objectMode: true });
    const seen: number[] = [];
    const read = (async () => {
      for await (const a of objectArrays(stream, 10)) seen.push(...(a as number[]));
    })();
    stream.write(1);
    stream.write(2);
    await new Promise((r) => setImmediate(r));
    stream.destroy(new Error("boom"));
    await expect(read).rejects.toThrow("boom");
    expect(seen).toEqual([1, 2]);
  });

  it("a stream destroyed without an error is an error, not a wait forever", async () => {
    const stream = new PassThrough({ objectMode: true });
    const read = collect(objectArrays(stream, 10));
    await new Promise((r) => setImmediate(r));
    stream.destroy();
    await expect(read).rejects.toThrow(/closed before its end/);
  });

  it("leaving early destroys the stream", async () => {
    const stream = Readable.from(Array.from({ length: 100 }, (_, i) => i));
    for await (const a of objectArrays(stream, 10)) {
      expect(a).toHaveLength(10);
      break;
    }
    expect(stream.destroyed).toBe(true);
  });
});

describe("inArrays", () => {
  it("groups items and hands on the items before a failure before throwing it", async () => {
    async function* items() {
      for (let i = 0; i < 5; i++) yield i;
      throw new Error("bad item");
    }
    const seen: number[][] = [];
    await expect(
      (async () => {
        for await (const a of inArrays(items(), 2)) seen.push(a);
      })(),
    ).rejects.toThrow("bad item");
    expect(seen).toEqual([[0, 1], [2, 3], [4]]);
  });
});
