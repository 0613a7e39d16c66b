import { describe, expect, it } from "vitest";
import { KeptTexts } from "../../src/store/sql/driver.js";

describe("KeptTexts", () => {
  it("builds a text once per key, keeps short ones for good and at most 32 long ones", () => {
    const texts = new KeptTexts();
    let builds = 0;
    const build = (key: string) => () => {
      builds++;
      return `text of ${key}`;
    };
    for (let i = 0; i < 100; i++) texts.get(`short:${i}`, false, build(`short:${i}`));
    for (let i = 0; i < 1000; i++) texts.get(`long:${i}`, true, build(`long:${i}`));
    expect(builds).toBe(1100);
    expect(texts.size).toBe(100 + 32);
    // Kept: the same object, not built again; the oldest long ones were dropped and are rebuilt.
    const first = texts.get("short:0", false, build("short:0"));
    expect(texts.get("short:0", false, build("short:0"))).toBe(first);
    texts.get("long:999", true, build("long:999"));
    expect(builds).toBe(1100);
    texts.get("long:0", true, build("long:0"));
    expect(builds).toBe(1101);
    expect(texts.size).toBe(100 + 32);
  });
});
