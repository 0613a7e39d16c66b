import { describe, expect, it } from "vitest";
import { answerDelayMs } from "../../src/mock-llm/route-support.js";
import { startMockLlm } from "../../src/mock-llm/server.js";

describe("mock-llm answer delay", () => {
  it("is the latency itself without jitter, whatever the draw", () => {
    const deps = { latencyMs: 50, latencyJitterMs: 0 };
    expect(answerDelayMs(deps, () => 0)).toBe(50);
    expect(answerDelayMs(deps, () => 0.99)).toBe(50);
  });

  it("draws uniformly within ±jitter of the latency", () => {
    const deps = { latencyMs: 50, latencyJitterMs: 20 };
    expect(answerDelayMs(deps, () => 0)).toBe(30);
    expect(answerDelayMs(deps, () => 0.5)).toBe(50);
    expect(answerDelayMs(deps, () => 0.75)).toBe(60);
    // Math.random() < 1: the top of the range is approached, never reached.
    expect(answerDelayMs(deps, () => 0.999)).toBeCloseTo(69.96, 5);
  });

  it("never goes below zero, should a spread wider than the latency get here", () => {
    const deps = { latencyMs: 10, latencyJitterMs: 30 };
    expect(answerDelayMs(deps, () => 0)).toBe(0);
    expect(answerDelayMs(deps, () => 0.25)).toBe(0);
    expect(answerDelayMs(deps, () => 0.9)).toBeCloseTo(34, 5);
  });

  it("spreads answers with the default random source", () => {
    const deps = { latencyMs: 100, latencyJitterMs: 50 };
    const draws = Array.from({ length: 200 }, () => answerDelayMs(deps));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(50);
    expect(Math.max(...draws)).toBeLessThan(150);
    expect(new Set(draws).size).toBeGreaterThan(100);
  });

  it("refuses a spread wider than the latency", async () => {
    await expect(startMockLlm({ latencyMs: 10, latencyJitterMs: 30 })).rejects.toThrow(
      /latencyJitterMs \(30\) must not exceed latencyMs \(10\)/,
    );
  });
});
