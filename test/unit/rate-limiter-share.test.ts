import { expect, it } from "vitest";
import { LimiterRegistry, UpstreamLimiter } from "../../src/providers/rate-limiter.js";

/** How many permits are granted at once (without waiting) before one would wait. */
async function grantedAtOnce(limiter: UpstreamLimiter, max: number): Promise<number> {
  const abort = new AbortController();
  let granted = 0;
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < max; i++) {
    pending.push(
      limiter.acquire(1, abort.signal).then(
        () => granted++,
        () => {},
      ),
    );
  }
  await Promise.resolve();
  await new Promise((r) => setImmediate(r));
  abort.abort();
  await Promise.all(pending);
  return granted;
}

it("takes its share of the requests per minute: 1/4 of 600 is 150", async () => {
  const limiter = new UpstreamLimiter({ rpm: 600 }, 1000, 1 / 4);
  expect(await grantedAtOnce(limiter, 400)).toBe(150);
});

it("takes its share of the concurrency cap, and follows a change of share", async () => {
  const registry = new LimiterRegistry(() => ({ maxConcurrency: 8 }), 1000);
  registry.setShare(1 / 4);
  const limiter = registry.get("p");
  expect(limiter.currentConcurrencyLimit).toBe(2);
  registry.setShare(1 / 2);
  expect(limiter.currentConcurrencyLimit).toBe(4);
  registry.setShare(1 / 3);
  expect(limiter.currentConcurrencyLimit).toBe(2);
  expect(await grantedAtOnce(limiter, 10)).toBe(2);
});

it("leaves the per-process fallback concurrency unshared", () => {
  const limiter = new UpstreamLimiter({}, 64, 1 / 4);
  expect(limiter.currentConcurrencyLimit).toBe(64);
});

it("an answered call's permit frees its concurrency slot at once, and its release frees no second one", async () => {
  const limiter = new UpstreamLimiter({ maxConcurrency: 1 }, 1000, 1);
  const abort = new AbortController();
  const first = await limiter.acquire(1, abort.signal);
  let second: { release: (o: null) => void } | null = null;
  const waiting = limiter.acquire(1, abort.signal).then((p) => {
    second = p;
  });
  await new Promise((r) => setImmediate(r));
  expect(second).toBeNull();
  first.answered?.();
  await waiting;
  expect(limiter.running).toBe(1);
  first.answered?.();
  first.release(null);
  expect(limiter.running).toBe(1);
  expect(await grantedAtOnce(limiter, 2)).toBe(0);
  (second as unknown as { release: (o: null) => void }).release(null);
  expect(limiter.running).toBe(0);
});
