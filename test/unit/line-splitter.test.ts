import { describe, expect, it } from "vitest";
import { boundedLines, LineTooLongError } from "../../src/files/line-splitter.js";

async function lines(chunks: string[], max: number) {
  const out: { text: string; line: number }[] = [];
  async function* source() {
    for (const c of chunks) yield Buffer.from(c);
  }
  for await (const l of boundedLines(source(), max)) out.push(l);
  return out;
}

describe("boundedLines", () => {
  it("splits on \\n and \\r\\n across chunk boundaries, numbering lines from 1", async () => {
    expect(await lines(["ab", "c\r", "\nde\n\nf"], 10)).toEqual([
      { text: "abc", line: 1 },
      { text: "de", line: 2 },
      { text: "", line: 3 },
      { text: "f", line: 4 },
    ]);
  });

  it("keeps multi-byte characters split across chunks whole", async () => {
    const bytes = Buffer.from("é\n");
    async function* source() {
      yield bytes.subarray(0, 1);
      yield bytes.subarray(1);
    }
    const out = [];
    for await (const l of boundedLines(source(), 10)) out.push(l.text);
    expect(out).toEqual(["é"]);
  });

  it("accepts a line of exactly the limit and fails the first line over it, naming it", async () => {
    expect(await lines(["12345\n"], 5)).toEqual([{ text: "12345", line: 1 }]);
    await expect(lines(["ok\n123456\n"], 5)).rejects.toThrow(new LineTooLongError(2, 5));
    await expect(lines(["ok\n", "1234", "5678", "9"], 5)).rejects.toThrow(
      /line 2 is longer than the limit of 5 bytes/,
    );
  });

  it("stops reading an endless line as soon as it passes the limit", async () => {
    let pulled = 0;
    async function* endless() {
      for (;;) {
        pulled++;
        yield Buffer.alloc(1024, 120);
      }
    }
    await expect(
      (async () => {
        for await (const _ of boundedLines(endless(), 4096)) void _;
      })(),
    ).rejects.toBeInstanceOf(LineTooLongError);
    expect(pulled).toBeLessThanOrEqual(6);
  });
});
