/**
 * Workers sharing one upstream's limit on a shared database, on a fake clock: their heartbeats
 * split the limit, and the upstream (mock-llm's token bucket, the same definition as OpenAI's)
 * must never refuse a call, however the workers' starts, joins and stops fall between beats.
 */
import { setMaxListeners } from "node:events";
import pino from "pino";
import { afterEach, expect, it, vi } from "vitest";
import { Heartbeat } from "../../src/engine/heartbeat.js";
import { MockLimits } from "../../src/mock-llm/limits.js";
import { LimiterRegistry } from "../../src/providers/rate-limiter.js";
import type { LiveWorker, WorkerRegistry } from "../../src/store/workers.js";

const RPM = 600;
const LATENCY_MS = 100;

/** The workers table, one statement at a time (as on PostgreSQL, each beat is atomic enough). */
class MemoryWorkers implements WorkerRegistry {
  private readonly rows = new Map<string, LiveWorker>();
  /** Workers whose beats take this long to come back (a slow connection), in ms. */
  readonly slow = new Map<string, number>();
  /** Workers whose beats write at once but take this long after the write (a busy pool), in ms. */
  readonly slowRead = new Map<string, number>();

  /** The database's clock: the (fake) clock of the test. */
  private now(): number {
    return Date.now();
  }

  async heartbeat(
    workerId: string,
    staleMs: number,
    startedAt?: number,
    onWritten?: () => void,
  ): Promise<LiveWorker[]> {
    const delay = this.slow.get(workerId);
    if (delay) await new Promise((r) => setTimeout(r, delay));
    const now = this.now();
    const row = this.rows.get(workerId);
    if (row) row.lastSeen = now;
    else this.rows.set(workerId, { id: workerId, startedAt: startedAt ?? now, lastSeen: now });
    onWritten?.();
    const readDelay = this.slowRead.get(workerId);
    if (readDelay) await new Promise((r) => setTimeout(r, readDelay));
    const staleBefore = this.now() - staleMs;
    for (const [id, r] of this.rows) if (r.lastSeen < staleBefore) this.rows.delete(id);
    return [...this.rows.values()].map((r) => ({ ...r }));
  }

  async live(staleMs: number): Promise<string[]> {
    const staleBefore = this.now() - staleMs;
    return [...this.rows.values()].filter((r) => r.lastSeen >= staleBefore).map((r) => r.id);
  }

  async remove(workerId: string): Promise<void> {
    this.rows.delete(workerId);
  }

  runAsLeader<T>(_task: string, fn: () => Promise<T>): Promise<T | undefined> {
    return fn();
  }
}

interface Upstream {
  limits: MockLimits;
  sent: Map<string, number>;
  refused: number;
}

/** One worker process: its heartbeat, its limiters and `slots` calls at a time, as fast as allowed. */
class Worker {
  private readonly limiters = new LimiterRegistry(() => ({ rpm: RPM }), 1000);
  private readonly heartbeat: Heartbeat;
  private readonly abort = new AbortController();

  constructor(
    readonly id: string,
    workers: WorkerRegistry,
    private readonly upstream: Upstream,
    private readonly slots: number,
  ) {
    this.heartbeat = new Heartbeat({
      store: { workers, capabilities: { sharedByProcesses: true } },
      owner: id,
      limiters: this.limiters,
      logger: pino({ level: "silent" }),
    });
  }

  async start(): Promise<void> {
    this.heartbeat.start();
    // As the engine: the first claim waits for the first beat.
    await this.heartbeat.firstBeat;
    setMaxListeners(0, this.abort.signal);
    for (let i = 0; i < this.slots; i++) void this.call();
  }

  private async call(): Promise<void> {
    const limiter = this.limiters.get("mock");
    while (!this.abort.signal.aborted) {
      const permit = await limiter.acquire(1, this.abort.signal).catch(() => null);
      if (!permit) return;
      if (this.upstream.limits.admit(0)) this.upstream.refused++;
      this.upstream.sent.set(this.id, (this.upstream.sent.get(this.id) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, LATENCY_MS));
      permit.release(null);
    }
  }

  /** Stops taking permits (a call in flight still ends) and forgets the worker. */
  async stop(): Promise<void> {
    this.abort.abort();
    this.limiters.close();
    await this.heartbeat.stop();
  }
}

afterEach(() => {
  vi.useRealTimers();
});

/** Stops workers whose beat may be waiting on the fake clock. */
async function stopAll(workers: Worker[]): Promise<void> {
  const stopped = Promise.all(workers.map((w) => w.stop()));
  await vi.advanceTimersByTimeAsync(5_000);
  await stopped;
}

function upstream(): Upstream {
  return { limits: new MockLimits(RPM, undefined), sent: new Map(), refused: 0 };
}

it("4 workers starting 300 ms apart never go over the limit together, and each gets a share", async () => {
  vi.useFakeTimers();
  const workers = new MemoryWorkers();
  const up = upstream();
  const all = ["w0", "w1", "w2", "w3"].map((id) => new Worker(id, workers, up, 50));
  for (const w of all) {
    void w.start();
    await vi.advanceTimersByTimeAsync(300);
  }
  await vi.advanceTimersByTimeAsync(30_000);
  expect(up.refused).toBe(0);
  for (const w of all) expect(up.sent.get(w.id)).toBeGreaterThan(0);
  for (const w of all) await w.stop();
});

it("a worker that stops and one that joins later keep the sum within the limit", async () => {
  vi.useFakeTimers();
  const workers = new MemoryWorkers();
  const up = upstream();
  const first = ["a", "b", "c"].map((id) => new Worker(id, workers, up, 50));
  for (const w of first) void w.start();
  await vi.advanceTimersByTimeAsync(20_000);
  // "c" leaves: the others grow into its share; then two new workers join at once, 400 ms later.
  await first[2].stop();
  await vi.advanceTimersByTimeAsync(400);
  const later = ["d", "e"].map((id) => new Worker(id, workers, up, 50));
  for (const w of later) void w.start();
  await vi.advanceTimersByTimeAsync(40_000);
  expect(up.refused).toBe(0);
  for (const w of later) expect(up.sent.get(w.id)).toBeGreaterThan(0);
  for (const w of [first[0], first[1], ...later]) await w.stop();
});

it("a worker whose beats stall holds its share before the others take it", async () => {
  vi.useFakeTimers();
  const workers = new MemoryWorkers();
  const up = upstream();
  const all = ["a", "b"].map((id) => new Worker(id, workers, up, 50));
  for (const w of all) void w.start();
  await vi.advanceTimersByTimeAsync(10_000);
  // a's beats now take 5 s to land: b forgets it and takes the whole limit while a goes on.
  workers.slow.set("a", 5_000);
  await vi.advanceTimersByTimeAsync(20_000);
  workers.slow.delete("a");
  await vi.advanceTimersByTimeAsync(20_000);
  expect(up.refused).toBe(0);
  for (const w of all) await w.stop();
});

it("beats of 600 ms (written early, read late) keep their share: the fence runs from the write", async () => {
  vi.useFakeTimers();
  const workers = new MemoryWorkers();
  const up = upstream();
  const all = ["a", "b"].map((id) => new Worker(id, workers, up, 50));
  workers.slowRead.set("a", 600);
  workers.slowRead.set("b", 600);
  for (const w of all) void w.start();
  // Beats start 1 s after the previous one ends: 1.6 s apart, under the 2 s fence and the 3 s
  // after which the others forget a worker. Both have a share within a few beats, and keep it.
  await vi.advanceTimersByTimeAsync(10_000);
  const early = new Map(all.map((w) => [w.id, up.sent.get(w.id) ?? 0]));
  for (const w of all) expect(early.get(w.id)).toBeGreaterThan(0);
  await vi.advanceTimersByTimeAsync(30_000);
  // Still sending at about half the limit each over the last 30 s (not held by the fence).
  for (const w of all) expect((up.sent.get(w.id) ?? 0) - (early.get(w.id) ?? 0)).toBeGreaterThan(RPM / 8);
  expect(up.refused).toBe(0);
  await stopAll(all);
});

it("a worker alone whose beats take 600 ms has its share within a few beats", async () => {
  vi.useFakeTimers();
  const workers = new MemoryWorkers();
  workers.slowRead.set("solo", 600);
  const up = upstream();
  const w = new Worker("solo", workers, up, 50);
  void w.start();
  await vi.advanceTimersByTimeAsync(5_000);
  expect(up.sent.get("solo")).toBeGreaterThan(0);
  expect(up.refused).toBe(0);
  await stopAll([w]);
});

it("a worker alone on the database has the whole burst at once, from its second beat", async () => {
  vi.useFakeTimers();
  const up = upstream();
  const w = new Worker("solo", new MemoryWorkers(), up, 1000);
  void w.start();
  await vi.advanceTimersByTimeAsync(900);
  expect(up.sent.get("solo")).toBeUndefined();
  await vi.advanceTimersByTimeAsync(150);
  expect(up.sent.get("solo")).toBe(RPM);
  expect(up.refused).toBe(0);
  await w.stop();
});

it("4 workers started at once share the whole burst, and no more", async () => {
  vi.useFakeTimers();
  const workers = new MemoryWorkers();
  const up = upstream();
  const all = ["w0", "w1", "w2", "w3"].map((id) => new Worker(id, workers, up, 1000));
  for (const w of all) void w.start();
  await vi.advanceTimersByTimeAsync(5_000);
  const sent = [...up.sent.values()].reduce((a, b) => a + b, 0);
  expect(sent).toBeGreaterThanOrEqual(RPM);
  for (const w of all) expect(up.sent.get(w.id)).toBeGreaterThanOrEqual(RPM / 4);
  expect(up.refused).toBe(0);
  for (const w of all) await w.stop();
});
