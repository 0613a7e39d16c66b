/** engine.thread fixes V8's heap growth factor (two heaps in one process), unless the operator set it. */
import { describe, expect, it } from "vitest";
import { ENGINE_THREAD_HEAP_GROWING_PERCENT, heapGrowthFlag } from "../../../src/threads/engine-host.js";

describe("heapGrowthFlag", () => {
  it("asks for the engine thread's growing percent when the process was given none", () => {
    expect(heapGrowthFlag([])).toBe(`--heap-growing-percent=${ENGINE_THREAD_HEAP_GROWING_PERCENT}`);
    expect(heapGrowthFlag(["--max-old-space-size=2048", "--enable-source-maps"])).toBe(
      `--heap-growing-percent=${ENGINE_THREAD_HEAP_GROWING_PERCENT}`,
    );
  });

  it("leaves an operator's own setting alone, in either spelling, with one dash or two", () => {
    expect(heapGrowthFlag(["--heap-growing-percent=200"])).toBeNull();
    expect(heapGrowthFlag(["--max-old-space-size=512", "--heap_growing_percent=10"])).toBeNull();
    expect(heapGrowthFlag(["-heap-growing-percent=10"])).toBeNull();
    expect(heapGrowthFlag(["--heap-growing-percent", "0"])).toBeNull();
  });
});
