import { parse } from "csv-parse/sync";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CsvRecordParser, CsvSyntaxError, csvRecordArrays } from "../../src/files/csv-records.js";

const OPTIONS = { columns: true, bom: true, skip_empty_lines: true, relax_column_count: true };

/** csv-parse's answer: the records, or "error". */
function reference(bytes: Buffer): unknown {
  try {
    return parse(bytes, { ...OPTIONS, max_record_size: 1 << 20 });
  } catch {
    return "error";
  }
}

/** This parser's answer on `bytes` cut at `cuts`. */
function ours(bytes: Buffer, cuts: number[], max = 1 << 20): unknown {
  const parser = new CsvRecordParser(max);
  const out: Record<string, string>[] = [];
  try {
    let from = 0;
    for (const cut of [...cuts].sort((a, b) => a - b)) {
      const at = Math.min(cut, bytes.length);
      if (at < from) continue;
      parser.write(bytes.subarray(from, at), out);
      from = at;
    }
    parser.write(bytes.subarray(from), out);
    parser.end(out);
    return out;
  } catch (err) {
    if (!(err instanceof CsvSyntaxError)) throw err;
    return "error";
  }
}

const piece = fc.constantFrom("a", "b", "id", ",", '"', '""', "\n", "\r", "\r\n", " ", "é", "😀", "x,y");
const csvText = fc.array(piece, { maxLength: 40 }).map((p) => p.join(""));

describe("CSV records (the same as csv-parse with the service's options)", () => {
  it("reads the same records, and refuses the same input, at any cut of the bytes", () => {
    fc.assert(
      fc.property(csvText, fc.boolean(), fc.array(fc.nat(200), { maxLength: 6 }), (text, bom, cuts) => {
        const bytes = Buffer.from((bom ? "\uFEFF" : "") + text, "utf8");
        expect(ours(bytes, cuts)).toEqual(reference(bytes));
      }),
      { numRuns: 3000 },
    );
  });

  it("reads well-formed files with a header the same way", () => {
    const cell = fc.oneof(
      fc.string({ maxLength: 12 }).filter((s) => !/[",\r\n]/.test(s)),
      fc.string({ maxLength: 12 }).map((s) => `"${s.replaceAll('"', '""')}"`),
    );
    const line = fc.array(cell, { minLength: 1, maxLength: 5 }).map((c) => c.join(","));
    const file = fc
      .tuple(
        fc.array(line, { minLength: 1, maxLength: 8 }),
        fc.constantFrom("\n", "\r\n", "\r"),
        fc.boolean(),
      )
      .map(([lines, eol, last]) => lines.join(eol) + (last ? eol : ""));
    fc.assert(
      fc.property(file, fc.array(fc.nat(300), { maxLength: 6 }), (text, cuts) => {
        const bytes = Buffer.from(text, "utf8");
        expect(ours(bytes, cuts)).toEqual(reference(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  it("a UTF-16LE file (with its BOM) is read as csv-parse reads it", () => {
    const text = 'custom_id,message\r\na,héllo\r\nb,"x, y"\r\n';
    const bytes = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, "utf16le")]);
    expect(ours(bytes, [1, 7, 8])).toEqual(reference(bytes));
    expect(ours(bytes, [])).toEqual([
      { custom_id: "a", message: "héllo" },
      { custom_id: "b", message: "x, y" },
    ]);
  });

  it("names the line of an error", () => {
    const at = (text: string) => {
      try {
        ours(Buffer.from(text), [], 20);
      } catch {}
      const parser = new CsvRecordParser(20);
      try {
        parser.write(Buffer.from(text), []);
        parser.end([]);
      } catch (err) {
        return (err as CsvSyntaxError).lines;
      }
      return null;
    };
    expect(at('a,b\n1,2\n3,x"y\n')).toBe(3);
    expect(at('a,b\n1,2\n"3"x,y\n')).toBe(3);
    expect(at('a,b\n1,"2\n3\n')).toBe(4);
    expect(at(`a,b\n1,2\n3,${"z".repeat(30)}\n4,5\n`)).toBe(3);
    expect(at(`a,b\n1,2\n3,${"z".repeat(19)}\n`)).toBe(null);
  });

  it("refuses a record over the size limit even before its end arrives", () => {
    const parser = new CsvRecordParser(100);
    parser.write(Buffer.from("a,b\n1,2\n"), []);
    expect(() => parser.write(Buffer.from(`3,"${"z".repeat(200)}`), [])).toThrow(/Max Record Size.*line 3/);
  });

  it("throws an error at once, with the records of the bytes before it, and after earlier arrays", async () => {
    async function* source() {
      let text = "a,b\n";
      for (let i = 0; i < 300; i++) text += `${i},v\n`;
      yield Buffer.from(text);
      yield Buffer.from('x,y\n5,x"y\n');
    }
    const seen: Record<string, string>[] = [];
    await expect(async () => {
      for await (const records of csvRecordArrays(source(), 256, 1000)) seen.push(...records);
    }).rejects.toThrow(/Invalid Opening Quote.*line 303/);
    expect(seen.length).toBe(256);
  });

  it("hands records on in arrays of at most the size asked", async () => {
    async function* source() {
      let text = "a,b\n";
      for (let i = 0; i < 1000; i++) text += `${i},v${i}\n`;
      yield Buffer.from(text);
    }
    const sizes: number[] = [];
    for await (const records of csvRecordArrays(source(), 256, 1000)) sizes.push(records.length);
    expect(sizes).toEqual([256, 256, 256, 232]);
  });
});
