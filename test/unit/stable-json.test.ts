import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { requestHash, stableJson } from "../../src/server/batch-submit.js";

/** The implementation the stored request hashes were taken with (entries, sort, join). */
function previousStableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(previousStableJson).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${previousStableJson(x)}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

describe("stableJson (the text of a batch's request hash)", () => {
  it("is the text the earlier implementation gave, for any JSON value and for undefined members", () => {
    const value = fc.letrec((tie) => ({
      any: fc.oneof(
        { depthSize: "small" },
        fc.jsonValue(),
        fc.constant(undefined),
        fc.array(tie("any"), { maxLength: 5 }),
        fc.dictionary(fc.string({ unit: "binary", maxLength: 6 }), tie("any"), { maxKeys: 6 }),
      ),
    })).any;
    fc.assert(
      fc.property(value, (v) => {
        expect(stableJson(v)).toBe(previousStableJson(v));
      }),
      { numRuns: 2000 },
    );
  });

  it("sorts keys by code unit and leaves undefined members out", () => {
    const input = {
      requests: [{ message: "b", custom_id: "x", z: undefined }],
      agent_id: "a",
      É: 1,
      e: [undefined, 2],
    };
    expect(stableJson(input)).toBe(
      '{"agent_id":"a","e":[,2],"requests":[{"custom_id":"x","message":"b"}],"É":1}',
    );
    expect(requestHash({ b: 1, a: 2 })).toBe(requestHash({ a: 2, b: 1 }));
  });
});
