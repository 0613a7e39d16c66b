import { afterEach, describe, expect, it } from "vitest";
import type { Engine } from "../../../src/engine/engine.js";
import type { ModelOutcome } from "../../../src/providers/types.js";
import type { ItemOutcome } from "../../../src/store/types.js";
import { FakeStore } from "./fake-store.js";
import {
  type Complete,
  captureLogger,
  deferred,
  engineWith,
  type Harness,
  recordingMetrics,
  success,
  waitFor,
} from "./harness.js";

let running: Engine | null = null;

/** Starts an engine over a fake store; the test's afterEach stops it. */
function started(complete: Complete, options: Parameters<typeof engineWith>[1] = {}): Harness {
  const h = engineWith(complete, options);
  running = h.engine;
  return h;
}

afterEach(async () => {
  await running?.stop(100);
  running = null;
});

const kinds = (outcomes: ItemOutcome[]) => outcomes.map((o) => [o.itemId, o.kind, o.attempt]);

describe("engine over a fake store", () => {
  it("claims, runs and group-commits outcomes, with response_usage per model call", async () => {
    const metrics = recordingMetrics();
    const store = new FakeStore();
    const ids = store.addItems(3);
    const seen: string[] = [];
    const { engine } = started(
      async (request) => {
        seen.push(`${request.model}: ${JSON.stringify(request.messages.at(-1)?.content)}`);
        return success();
      },
      { store, metrics, config: { commitBatchSize: 3, commitIntervalMs: 60_000 } },
    );
    engine.start();
    await waitFor(() => store.commits.length === 1, "one group commit");
    expect(store.commits[0]).toHaveLength(3);
    expect(kinds(store.committed)).toEqual(ids.map((id) => [id, "success", 1]));
    expect(store.committed[0]).toMatchObject({
      leaseOwner: engine.owner,
      responseContent: "ok",
      promptTokens: 3,
      completionTokens: 5,
      finishReason: "stop",
      responseUsage: {
        tool_calls: [
          {
            model: "fake-model-2025",
            call_type: "llm_call",
            total_tokens: 8,
            prompt_tokens: 3,
            completion_tokens: 5,
          },
        ],
        total_calls: 1,
        total_tokens: 8,
        main_response: null,
        total_prompt_tokens: 3,
        total_completion_tokens: 5,
      },
    });
    expect((store.committed[0] as { cost: number }).cost).toBeGreaterThan(0);
    expect(seen).toContain('model: "message 1"');
    expect(metrics.calls).toHaveLength(3);
    expect(metrics.calls[0]).toMatchObject({ provider: "fake", model: "model", outcome: "success" });
    await waitFor(() => engine.stats().held === 0, "the committed items to be let go");
    expect(engine.stats()).toMatchObject({ claimed: 3, committed: 3, discarded: 0, running: 0 });
  });

  it("commits the last outcome at once when nothing else is held, not after the commit interval", async () => {
    const store = new FakeStore();
    const gate = deferred<void>();
    const ids = store.addItems(2);
    let calls = 0;
    const { engine } = started(
      async () => {
        // The first item answers at once; the second waits for the test.
        if (++calls === 2) await gate.promise;
        return success();
      },
      { store, config: { commitBatchSize: 100, commitIntervalMs: 60_000 } },
    );
    engine.start();
    await waitFor(() => calls === 2, "both calls started");
    // One outcome buffered while another item runs: it waits for its group (60 s here).
    expect(store.commits).toHaveLength(0);
    gate.resolve();
    await waitFor(() => store.committed.length === 2, "both outcomes stored well before the 60 s interval");
    expect(
      kinds(store.committed)
        .map(([id]) => id)
        .sort(),
    ).toEqual([...ids].sort());
  });

  it("aborts the call of an item whose lease was lost and never commits it", async () => {
    const { logger, lines } = captureLogger();
    const store = new FakeStore();
    store.reaping = false;
    const [id] = store.addItems(1);
    store.lostLeases.add(id);
    const signals: AbortSignal[] = [];
    const { engine } = started(
      (_request, signal) => {
        signals.push(signal);
        return new Promise<ModelOutcome>((resolve) =>
          signal.addEventListener("abort", () =>
            resolve({ kind: "retryable", code: 504, message: "aborted", rateLimited: false }),
          ),
        );
      },
      { store, logger, config: { leaseMs: 150 } },
    );
    engine.start();
    await waitFor(() => signals.length === 1 && signals[0].aborted, "the call to be aborted");
    await waitFor(() => engine.stats().held === 0 && engine.stats().running === 0, "the item to be dropped");
    await engine.stop(100);
    expect(store.committed).toEqual([]);
    expect(store.releases.flatMap((r) => r.items)).toEqual([]);
    expect(lines.some((l) => l.msg === "lease lost")).toBe(true);
  });

  it("keeps items whose group commit failed for the reaper, and logs the failure", async () => {
    const { logger, lines } = captureLogger();
    const store = new FakeStore();
    store.failingCommits = 1;
    const ids = store.addItems(2);
    const { engine } = started(async () => success(), {
      store,
      logger,
      config: { leaseMs: 200, commitBatchSize: 2, commitIntervalMs: 60_000 },
    });
    engine.start();
    // The first write throws; the items keep their leases in the store until those run out,
    // then the reaper puts them back and they run again (attempt 2).
    await waitFor(() => store.committed.length === 2, "the items to be stored after the reaper", 10_000);
    expect(kinds(store.committed)).toEqual(ids.map((id) => [id, "success", 2]));
    expect(lines.some((l) => l.level === 50 && l.msg.startsWith("storing results failed"))).toBe(true);
    expect(store.releases).toEqual([]);
  });

  it("stop() stores what finished and hands back what had not started", async () => {
    const store = new FakeStore();
    const ids = store.addItems(3);
    const firstCall = deferred<ModelOutcome>();
    let calls = 0;
    const { engine, limiters } = started(
      () => {
        calls++;
        return firstCall.promise;
      },
      // One call at a time: the first item runs, the other two wait for a permit.
      { store, maxConcurrency: 1, config: { commitIntervalMs: 60_000 } },
    );
    engine.start();
    await waitFor(() => calls === 1 && engine.stats().held === 3, "one call running and three items held");
    const stopping = engine.stop(5_000);
    firstCall.resolve(success());
    await stopping;
    expect(kinds(store.committed)).toEqual([[ids[0], "success", 1]]);
    expect(store.releases.flatMap((r) => r.items)).toEqual([
      { itemId: ids[1], attempt: 1 },
      { itemId: ids[2], attempt: 1 },
    ]);
    expect([store.status(ids[1]), store.status(ids[2])]).toEqual(["pending", "pending"]);
    expect(calls).toBe(1);
    expect(limiters.get("fake").running).toBe(0);
  });

  it("hands back the unstarted items of a batch that was paused", async () => {
    const store = new FakeStore();
    const ids = store.addItems(2);
    const firstCall = deferred<ModelOutcome>();
    const { engine, signals } = started(() => firstCall.promise, { store, maxConcurrency: 1 });
    engine.start();
    await waitFor(() => engine.stats().running === 1 && engine.stats().held === 2, "one call running");
    store.haltedBatches.add("batch-1");
    signals.notifyBatchChanged({
      batchIds: ["batch-1"],
      transitions: [{ batchId: "batch-1", workspaceId: "ws-1", from: "in_progress", to: "paused" }],
    });
    await waitFor(() => store.releases.length === 1, "the unstarted item to be handed back");
    expect(store.releases[0].items).toEqual([{ itemId: ids[1], attempt: 1 }]);
    firstCall.resolve(success());
    await waitFor(() => store.committed.length === 1, "the running item to be stored");
    expect(kinds(store.committed)).toEqual([[ids[0], "success", 1]]);
    expect(store.status(ids[1])).toBe("pending");
  });

  it("retries a retryable failure no sooner than the upstream's Retry-After", async () => {
    const metrics = recordingMetrics();
    const store = new FakeStore();
    const [id] = store.addItems(1);
    const t0 = Date.now();
    const { engine } = started(
      async () => ({
        kind: "retryable",
        code: 429,
        message: "slow down",
        retryAfterMs: 5_000,
        rateLimited: true,
      }),
      { store, metrics, config: { maxAttempts: 3 } },
    );
    engine.start();
    await waitFor(() => store.committed.length === 1, "the retry to be stored");
    const [outcome] = store.committed;
    expect(outcome).toMatchObject({ itemId: id, kind: "retry", errorCode: 429, attempt: 1 });
    expect((outcome as { notBefore: number }).notBefore).toBeGreaterThanOrEqual(t0 + 5_000);
    expect(metrics.retries).toEqual([{ provider: "fake", model: "model", code: 429 }]);
    expect(metrics.calls[0]).toMatchObject({ outcome: "retryable", rateLimited: true });
  });

  it("fails an item with the upstream's code once it has had maxAttempts", async () => {
    const store = new FakeStore();
    const [id] = store.addItems(1);
    const { engine } = started(
      async () => ({ kind: "retryable", code: 502, message: "bad gateway", rateLimited: false }),
      { store, config: { maxAttempts: 2 } },
    );
    engine.start();
    await waitFor(() => store.committed.some((o) => o.kind === "failed"), "the final failure");
    expect(kinds(store.committed)).toEqual([
      [id, "retry", 1],
      [id, "failed", 2],
    ]);
    expect(store.committed[1]).toMatchObject({ errorCode: 502, errorMessage: "bad gateway" });
  });

  it("fails an item whose agent version is gone with 400, without a model call", async () => {
    const store = new FakeStore();
    const [id] = store.addItems(1);
    store.agent = { ...store.agent, version: 2 };
    let calls = 0;
    const { engine } = started(
      async () => {
        calls++;
        return success();
      },
      { store },
    );
    engine.start();
    await waitFor(() => store.committed.length === 1, "the failure to be stored");
    expect(store.committed[0]).toMatchObject({ itemId: id, kind: "failed", errorCode: 400 });
    expect(calls).toBe(0);
  });
});
