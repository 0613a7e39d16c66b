/**
 * The export's hand-written writers against what they replace: `csvLine` against csv-stringify
 * with the options the export used (`escape_formulas: true`, objects written as JSON), and
 * `resultJsonLine` / `resultCsvCells` against `JSON.stringify(itemToWire(...))` and the former
 * CSV cells over the parsed row, on generated rows.
 */
import { stringify } from "csv-stringify/sync";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ITEM_STATUSES } from "../../src/domain/statuses.js";
import { csvField, csvLine } from "../../src/files/batch-export.js";
import { itemToWire } from "../../src/server/wire/batches.js";
import {
  jsonStringValue,
  RESULT_CSV_COLUMNS,
  resultCsvCells,
  resultJsonLine,
} from "../../src/server/wire/result-lines.js";
import { RESULT_CELL } from "../../src/store/items.js";
import { toItemResultRow } from "../../src/store/sql/rows.js";
import type { ItemResult, ItemResultRow, ResponseUsage } from "../../src/store/types.js";

/** What the export wrote before: csv-stringify, formula cells escaped, objects as JSON. */
function reference(cells: unknown[]): string {
  const cell = (v: unknown) => (v !== null && typeof v === "object" ? JSON.stringify(v) : v);
  return stringify([cells.map(cell)], { escape_formulas: true });
}

/** Strings heavy in what CSV and formula escaping care about, and unicode. */
const tricky = fc.oneof(
  fc.string(),
  fc.string({ unit: "grapheme" }),
  // Any UTF-16 unit: control characters, lone and paired surrogates.
  fc.string({ unit: "binary" }),
  fc.string({
    unit: fc.constantFrom("\u0000", "\u0001", "\u001f", "\u007f", "\b", "\f", "\\", "\uDC00", "\uDBFF", "a"),
  }),
  fc
    .array(
      fc.constantFrom(
        '"',
        ",",
        "\n",
        "\r",
        "\r\n",
        "=",
        "+",
        "-",
        "@",
        "\t",
        "'",
        " ",
        "a",
        "é",
        "😀",
        "\u2028",
        "\uFF1D",
        "\uFF0B",
        "\uFF0D",
        "\uFF20",
        "\uD800",
        "=SUM(A1)",
      ),
      { maxLength: 8 },
    )
    .map((parts) => parts.join("")),
);

const cellValue = fc.oneof(
  tricky,
  fc.integer(),
  fc.integer({ min: -1_000_000, max: 0 }),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.dictionary(tricky, fc.jsonValue(), { maxKeys: 3 }),
  fc.array(fc.jsonValue(), { maxLength: 3 }),
);

describe("csvLine", () => {
  it("writes what csv-stringify writes with the export's options", () => {
    fc.assert(
      fc.property(fc.array(cellValue, { minLength: 1, maxLength: 12 }), (cells) => {
        expect(csvLine(cells)).toBe(reference(cells));
      }),
      { numRuns: 2000 },
    );
  });

  it("escapes formula cells, quotes what needs it, leaves numbers alone", () => {
    expect(csvLine(["=1+1", "-2", -2, "@x", "\tx", "+x", 'a"b', "a,b", "a\nb", "", null])).toBe(
      `'=1+1,'-2,-2,'@x,'\tx,'+x,"a""b","a,b","a\nb",,\n`,
    );
    expect(csvField(true)).toBe("1");
    expect(csvField(false)).toBe("");
    expect(csvField({ a: "=b" })).toBe('"{""a"":""=b""}"');
  });
});

const usage: fc.Arbitrary<ResponseUsage> = fc.record(
  {
    tool_calls: fc.array(
      fc.record({
        model: tricky,
        call_type: fc.constantFrom("main", "tool"),
        total_tokens: fc.nat(),
        prompt_tokens: fc.nat(),
        completion_tokens: fc.nat(),
      }),
      { maxLength: 2 },
    ),
    total_calls: fc.nat(),
    total_tokens: fc.nat(),
    main_response: fc.constant(null),
    total_prompt_tokens: fc.nat(),
    total_completion_tokens: fc.nat(),
    total_cached_prompt_tokens: fc.nat(),
  },
  {
    requiredKeys: [
      "tool_calls",
      "total_calls",
      "total_tokens",
      "main_response",
      "total_prompt_tokens",
      "total_completion_tokens",
    ],
  },
);

/** Nested JSON values whose strings hold any UTF-16 unit (control characters, lone surrogates). */
const nested = fc.oneof(fc.jsonValue(), fc.jsonValue({ stringUnit: "binary", maxDepth: 4 }));

const object = fc.dictionary(tricky, nested, { maxKeys: 4 });

/** A result as the store maps it (JSON fields parsed). */
const result: fc.Arbitrary<ItemResult> = fc.record({
  seq: fc.nat(),
  customId: tricky,
  status: fc.constantFrom(...ITEM_STATUSES),
  responseContent: fc.option(tricky),
  responseUsage: fc.option(usage),
  responseJson: fc.option(fc.oneof(object, nested)),
  errorCode: fc.option(fc.integer({ min: 0, max: 999 })),
  errorMessage: fc.option(tricky),
  chatId: fc.option(fc.nat()),
  conversationId: fc.option(fc.nat()),
  processedAt: fc.option(fc.integer({ min: 0, max: 4_102_444_800_000 })),
  attempts: fc.nat({ max: 20 }),
  agentId: tricky,
  context: fc.option(object),
  metadata: fc.option(object),
});

/**
 * The same row as `listResultRowsAfter` returns it: each JSON field as stored text, written compact
 * (as the store writes it) or, when `pretty`, with line breaks (text written by other means).
 */
function asStored(r: ItemResult, pretty: boolean): ItemResultRow {
  const text = (v: unknown) => (v === null ? null : pretty ? JSON.stringify(v, null, 2) : JSON.stringify(v));
  const C = RESULT_CELL;
  const jsonFields = new Set<string>(["responseUsage", "responseJson", "context", "metadata"]);
  const row: unknown[] = [];
  for (const [field, cell] of Object.entries(C)) {
    const value = r[field as keyof ItemResult];
    row[cell] = jsonFields.has(field) ? text(value) : value;
  }
  return toItemResultRow(row);
}

/** The CSV cells the export wrote before, over the wire row (results-export.ts before 17.4). */
function formerCsvCells(r: ReturnType<typeof itemToWire>, properties: string[]): unknown[] {
  const u = r.response_usage;
  const value = r.response_json;
  const object = typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
  return [
    r.custom_id,
    r.status,
    r.response_content,
    r.error_code,
    r.error_message,
    u?.total_prompt_tokens ?? null,
    u?.total_completion_tokens ?? null,
    u?.total_tokens ?? null,
    r.history_id,
    r.conversation_id,
    r.processed_at,
    r.attempts,
    r.agent_id,
    u?.total_cached_prompt_tokens ?? null,
    ...properties.map((p) => object[p] ?? null),
  ];
}

describe("JSON text pieces", () => {
  it("a string is written as JSON.stringify writes it", () => {
    fc.assert(
      fc.property(tricky, (v) => {
        expect(jsonStringValue(v)).toBe(JSON.stringify(v));
      }),
      { numRuns: 5000 },
    );
    for (let u = 0; u < 0x10000; u++) {
      const v = `a${String.fromCharCode(u)}b`;
      expect(jsonStringValue(v)).toBe(JSON.stringify(v));
    }
    expect(jsonStringValue("😀")).toBe(JSON.stringify("😀"));
  });
});

/** A finished result with nothing optional set, but `fields`. */
function finished(fields: Partial<ItemResult>): ItemResult {
  return {
    seq: 1,
    customId: "c",
    status: "success",
    responseContent: null,
    responseUsage: null,
    responseJson: null,
    errorCode: null,
    errorMessage: null,
    chatId: null,
    conversationId: null,
    processedAt: null,
    attempts: 1,
    agentId: "a",
    context: null,
    metadata: null,
    ...fields,
  };
}

describe("result lines", () => {
  it("a JSONL line is JSON.stringify(itemToWire(row)), on one line", () => {
    fc.assert(
      fc.property(result, fc.boolean(), (r, pretty) => {
        const line = resultJsonLine(asStored(r, pretty));
        expect(line).toBe(JSON.stringify(itemToWire(r)));
        expect(line).not.toMatch(/[\n\r]/);
      }),
      { numRuns: 1000 },
    );
  });

  it("CSV cells and header are what the export wrote before", () => {
    const property = fc.constantFrom("answer", "score", "a,b", "=x", "missing", "constructor");
    fc.assert(
      fc.property(result, fc.boolean(), fc.uniqueArray(property, { maxLength: 4 }), (r, pretty, extra) => {
        const keys =
          typeof r.responseJson === "object" && r.responseJson !== null && !Array.isArray(r.responseJson)
            ? Object.keys(r.responseJson).slice(0, 3)
            : [];
        // Names of Object methods made the former cells throw; they are tested on their own below.
        const properties = [...new Set([...keys, ...extra.filter((p) => p !== "constructor")])];
        const header = [...RESULT_CSV_COLUMNS, ...properties.map((p) => `json.${p}`)];
        expect(csvLine(header)).toBe(stringify([header], { escape_formulas: true }));
        expect(csvLine(resultCsvCells(asStored(r, pretty), properties))).toBe(
          reference(formerCsvCells(itemToWire(r), properties)),
        );
      }),
      { numRuns: 1000 },
    );
  });

  it("a json.<property> column named like an Object method is empty when the answer lacks it", () => {
    const r = asStored(finished({ responseContent: "{}", responseJson: { answer: "=1" } }), false);
    expect(csvLine(resultCsvCells(r, ["constructor", "answer"])).endsWith(",,'=1\n")).toBe(true);
  });

  it("the token columns are blank when the stored usage is absent, not an object or not JSON", () => {
    const stored = asStored(finished({ responseContent: "a" }), false);
    const tokens = (usageText: string | null) => {
      const r = [...stored];
      r[RESULT_CELL.responseUsage] = usageText;
      const cells = resultCsvCells(r, []);
      return ["prompt_tokens", "completion_tokens", "total_tokens", "cached_prompt_tokens"].map(
        (c) => cells[RESULT_CSV_COLUMNS.indexOf(c)],
      );
    };
    for (const text of [null, "null", "7", '"x"', "[1,2]", "{not json", "{}"])
      expect(tokens(text)).toEqual([null, null, null, null]);
    // Members are read as they are stored (a string or a fraction stays one), null ones blank.
    expect(
      tokens(
        '{"total_prompt_tokens":"12","total_completion_tokens":1.5,"total_tokens":null,"total_cached_prompt_tokens":3}',
      ),
    ).toEqual(["12", 1.5, null, 3]);
  });

  it("CSV columns are the documented ones, in order", () => {
    expect(RESULT_CSV_COLUMNS).toEqual([
      "custom_id",
      "status",
      "response_content",
      "error_code",
      "error_message",
      "prompt_tokens",
      "completion_tokens",
      "total_tokens",
      "history_id",
      "conversation_id",
      "processed_at",
      "attempts",
      "agent_id",
      "cached_prompt_tokens",
    ]);
  });
});
