import { describe, expect, it } from "vitest";
import { inArrays } from "../../src/files/object-arrays.js";

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
