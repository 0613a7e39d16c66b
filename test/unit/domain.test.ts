import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fairShares, preemptions, workspaceCap, workspaceRoom } from "../../src/domain/fair-share.js";
import { CANCELLED, EXPIRED, finalErrorForRetry, interruptionRule } from "../../src/domain/final-errors.js";
import {
  cancelRule,
  hasPendingAfterCancel,
  pauseRule,
  resumeRule,
  retryRule,
  settledStatus,
} from "../../src/domain/lifecycle.js";
import { BATCH_STATUSES, isTerminalBatchStatus } from "../../src/domain/statuses.js";
import { iso } from "../../src/domain/time.js";
import { cachedPromptTokensOf, responseUsage, responseUsageJson } from "../../src/domain/usage.js";
import { VERSION } from "../../src/domain/version.js";

describe("batch lifecycle", () => {
  it("completes a running or paused batch once nothing is pending or processing", () => {
    expect(settledStatus({ status: "in_progress", pending: 0, processing: 0 })).toBe("completed");
    expect(settledStatus({ status: "paused", pending: 0, processing: 0 })).toBe("completed");
    expect(settledStatus({ status: "in_progress", pending: 1, processing: 0 })).toBeNull();
    expect(settledStatus({ status: "in_progress", pending: 0, processing: 2 })).toBeNull();
  });

  it("cancels a cancelling batch once nothing is in flight, never an ended one", () => {
    expect(settledStatus({ status: "cancelling", pending: 0, processing: 0 })).toBe("cancelled");
    expect(settledStatus({ status: "cancelling", pending: 0, processing: 1 })).toBeNull();
    for (const status of ["completed", "failed", "cancelled", "validating"] as const) {
      expect(settledStatus({ status, pending: 0, processing: 0 })).toBeNull();
    }
  });

  it("fails items left pending in a cancelling batch", () => {
    expect(hasPendingAfterCancel({ status: "cancelling", pending: 2, processing: 0 })).toBe(true);
    expect(hasPendingAfterCancel({ status: "in_progress", pending: 2, processing: 0 })).toBe(false);
  });

  it("allows each state change from the statuses the seeds allow it from", () => {
    const table = Object.fromEntries(
      BATCH_STATUSES.map((s) => [s, [pauseRule(s), resumeRule(s), cancelRule(s), retryRule(s, 1)]]),
    );
    expect(table).toEqual({
      validating: ["conflict", "conflict", "change", "conflict"],
      in_progress: ["change", "conflict", "change", "conflict"],
      paused: ["unchanged", "change", "change", "conflict"],
      completed: ["conflict", "conflict", "conflict", "change"],
      failed: ["conflict", "conflict", "conflict", "change"],
      cancelling: ["conflict", "conflict", "unchanged", "conflict"],
      cancelled: ["conflict", "conflict", "unchanged", "change"],
    });
    expect(retryRule("completed", 0)).toBe("conflict");
    expect(BATCH_STATUSES.filter(isTerminalBatchStatus)).toEqual(["completed", "failed", "cancelled"]);
  });
});

describe("final errors", () => {
  it("turns a retry into 499 when the batch is cancelled and 408 past the completion window", () => {
    expect(finalErrorForRetry("cancelling", 10, 100)).toEqual(CANCELLED);
    expect(finalErrorForRetry("cancelled", 10, 100)).toEqual(CANCELLED);
    expect(finalErrorForRetry("in_progress", 100, 100)).toEqual(EXPIRED);
    expect(finalErrorForRetry("in_progress", 99, 100)).toBeNull();
    expect(finalErrorForRetry("paused", 99, 100)).toBeNull();
  });

  it("runs an interrupted item again until it was interrupted quarantineAfter times", () => {
    expect(interruptionRule(2, 3).kind).toBe("retry");
    const quarantined = interruptionRule(3, 3);
    expect(quarantined.kind).toBe("failed");
    expect(quarantined.error.code).toBe(500);
    expect(quarantined.error.message).toMatch(/^Quarantined: .* 3 worker crashes/);
  });
});

describe("fair shares", () => {
  it("splits slots round-robin across workspaces before batches", () => {
    const shares = fairShares(
      [
        { id: "a1", workspaceId: "A", pending: 1000 },
        { id: "a2", workspaceId: "A", pending: 1000 },
        { id: "a3", workspaceId: "A", pending: 1000 },
        { id: "b1", workspaceId: "B", pending: 1000 },
      ],
      12,
    );
    expect(shares.get("b1")).toBe(6);
    expect((shares.get("a1") ?? 0) + (shares.get("a2") ?? 0) + (shares.get("a3") ?? 0)).toBe(6);
    expect(shares.get("a1")).toBe(2);
  });

  it("never gives a batch more than it has pending, and hands the rest to others", () => {
    const shares = fairShares(
      [
        { id: "small", workspaceId: "A", pending: 2 },
        { id: "big", workspaceId: "B", pending: 100 },
      ],
      10,
    );
    expect(shares.get("small")).toBe(2);
    expect(shares.get("big")).toBe(8);
    expect(fairShares([{ id: "x", workspaceId: "A", pending: 3 }], 10).get("x")).toBe(3);
    expect(fairShares([], 10).size).toBe(0);
  });

  it("with a grain, gives a workspace's batches their turns that many items at a time", () => {
    const a = ["a1", "a2", "a3"].map((id) => ({ id, workspaceId: "A", pending: 1000 }));
    const b1 = { id: "b1", workspaceId: "B", pending: 1000 };
    // One workspace: 40 items in turns of 32 are two batches, not three.
    const alone = fairShares(a, 40, undefined, 32);
    expect([...alone.entries()]).toEqual([
      ["a1", 32],
      ["a2", 8],
    ]);
    // Workspaces still alternate item by item: B gets half whatever the grain.
    const both = fairShares([...a, b1], 40, undefined, 32);
    expect(both.get("b1")).toBe(20);
    expect(both.get("a1")).toBe(20);
    // A batch with fewer pending than the grain passes its turn on at once.
    const small = fairShares([{ id: "s", workspaceId: "A", pending: 3 }, ...a], 10, undefined, 32);
    expect(small.get("s")).toBe(3);
    expect(small.get("a1")).toBe(7);
  });

  it("holds a workspace to its cap while another has work, and lets it take all when alone", () => {
    const cap = workspaceCap(16, 0.5);
    expect(cap).toBe(8);
    const busy = new Map([["A", 6]]);
    const a = { id: "a1", workspaceId: "A", pending: 1000 };
    const b = { id: "b1", workspaceId: "B", pending: 1000 };
    const both = fairShares([a, b], 10, workspaceRoom(["A", "B"], { cap, busy }));
    expect(both.get("a1")).toBe(2);
    expect(both.get("b1")).toBe(8);
    // A alone (nothing of another workspace runnable or running): no cap.
    expect(fairShares([a], 10, workspaceRoom(["A"], { cap, busy })).get("a1")).toBe(10);
    // B's items all running in the engine still count as B having work.
    const running = new Map([
      ["A", 6],
      ["B", 3],
    ]);
    expect(fairShares([a], 10, workspaceRoom(["A"], { cap, busy: running })).get("a1")).toBe(2);
  });

  it("takes back the excess of a workspace over its cap only while another under its cap waits", () => {
    const busy = new Map([
      ["A", 16],
      ["C", 8],
    ]);
    expect(preemptions(["A", "B"], { cap: 8, busy })).toEqual(new Map([["A", 8]]));
    expect(preemptions(["A"], { cap: 8, busy }).size).toBe(0);
    expect(preemptions(["A", "C"], { cap: 8, busy }).size).toBe(0);
  });
});

describe("usage, time, version", () => {
  it("sums every model call of a turn in seed 000's response_usage shape", () => {
    const u = responseUsage([
      { model: "m1", callType: "llm_call", promptTokens: 10, completionTokens: 5 },
      { model: "m2", callType: "llm_call", promptTokens: 20, completionTokens: 1 },
    ]);
    expect(u).toEqual({
      tool_calls: [
        { model: "m1", call_type: "llm_call", total_tokens: 15, prompt_tokens: 10, completion_tokens: 5 },
        { model: "m2", call_type: "llm_call", total_tokens: 21, prompt_tokens: 20, completion_tokens: 1 },
      ],
      total_calls: 2,
      total_tokens: 36,
      main_response: null,
      total_prompt_tokens: 30,
      total_completion_tokens: 6,
    });
  });

  it("carries cached prompt tokens per call and in total only when a call reported them", () => {
    const u = responseUsage([
      { model: "m1", callType: "llm_call", promptTokens: 10, completionTokens: 5, cachedPromptTokens: 4 },
      { model: "m1", callType: "llm_call", promptTokens: 8, completionTokens: 1 },
      { model: "m1", callType: "llm_call", promptTokens: 9, completionTokens: 2, cachedPromptTokens: 0 },
    ]);
    expect(u.tool_calls.map((c) => c.cached_prompt_tokens)).toEqual([4, undefined, 0]);
    expect(u.total_cached_prompt_tokens).toBe(4);
    expect(cachedPromptTokensOf(u)).toBe(4);
    const none = responseUsage([{ model: "m", callType: "llm_call", promptTokens: 1, completionTokens: 1 }]);
    expect("total_cached_prompt_tokens" in none).toBe(false);
    expect(cachedPromptTokensOf(none)).toBe(0);
    expect(cachedPromptTokensOf(null)).toBe(0);
  });

  it("writes a response_usage as JSON.stringify does, whatever its calls", () => {
    const count = fc.oneof(
      fc.nat(),
      fc.double(),
      fc.constantFrom(0, -0, 1e21, 1.5e-7, Number.NaN, Number.POSITIVE_INFINITY),
    );
    const call = fc.record(
      {
        model: fc.string({ unit: "binary", maxLength: 12 }),
        callType: fc.constantFrom("llm_call", "embedding", 'a"\\b'),
        promptTokens: count,
        completionTokens: count,
        cachedPromptTokens: count,
      },
      { requiredKeys: ["model", "callType", "promptTokens", "completionTokens"] },
    );
    fc.assert(
      fc.property(fc.array(call, { maxLength: 4 }), (calls) => {
        const usage = responseUsage(calls);
        expect(responseUsageJson(usage)).toBe(JSON.stringify(usage));
      }),
    );
  });

  it("writes times as the seeds do and reports package.json's version", () => {
    expect(iso(Date.UTC(2025, 0, 2, 3, 4, 5, 678))).toBe("2025-01-02T03:04:05Z");
    expect(iso(null)).toBeNull();
    // The cached minute gives the text toISOString gives, whatever the order of the times.
    const plain = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
    const near = fc.integer({ min: 1_700_000_000_000, max: 1_700_000_200_000 });
    const time = fc.oneof(
      near,
      fc.integer({ min: -8.64e15, max: 8.64e15 }),
      fc.constantFrom(-1, 0, 59_999, 60_000),
    );
    fc.assert(
      fc.property(fc.array(time, { maxLength: 20 }), (times) => {
        for (const ms of times) expect(iso(ms)).toBe(plain(ms));
      }),
      { numRuns: 500 },
    );
    expect(iso(1.5)).toBe(plain(1.5));
    expect(() => iso(Number.NaN)).toThrow(RangeError);
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
    expect(VERSION).toBe(pkg.version);
  });
});
