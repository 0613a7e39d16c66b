/**
 * `exportStream` pulls pages only as the reader takes the text (backpressure): a reader that
 * stops stops the store reads, so memory holds about one page however large the batch.
 */
import { setImmediate as turn } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { type ExportFormat, exportStream } from "../../src/files/batch-export.js";

const PAGES = 200;

/** Pages of 1000 rows, counting how many the stream has asked for. */
function pages() {
  const state = { pulled: 0 };
  async function* gen() {
    for (let p = 0; p < PAGES; p++) {
      state.pulled++;
      yield Array.from({ length: 1000 }, (_, i) => ({ n: p * 1000 + i }));
    }
  }
  return { state, iterable: gen() };
}

const writers = {
  csvColumns: ["n"],
  csvRow: (r: { n: number }) => [r.n],
  jsonLine: (r: { n: number }) => JSON.stringify(r),
};

describe("export stream", () => {
  for (const format of ["csv", "jsonl", "json"] as ExportFormat[]) {
    it(`${format}: reads a page only when the text before it was taken`, async () => {
      const { state, iterable } = pages();
      const stream = exportStream(iterable, format, writers);
      // Nobody reads: after many turns of the event loop the stream has asked for a page at most.
      for (let i = 0; i < 50; i++) await turn();
      expect(state.pulled).toBeLessThanOrEqual(1);
      // One chunk taken: at most one more page asked for.
      const it = stream[Symbol.asyncIterator]();
      const first = await it.next();
      for (let i = 0; i < 50; i++) await turn();
      expect(state.pulled).toBeLessThanOrEqual(2);
      // Read to the end, the first chunk included: every page, every row.
      let lines = 0;
      for (let r = first; !r.done; r = await it.next()) {
        const chunk = String(r.value);
        for (let i = 0; i < chunk.length; i++) if (chunk[i] === "\n") lines++;
      }
      expect(state.pulled).toBe(PAGES);
      expect(lines).toBeGreaterThanOrEqual(PAGES * 1000 - 1);
    });
  }
});
