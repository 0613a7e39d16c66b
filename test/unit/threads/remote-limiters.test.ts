import { describe, expect, it } from "vitest";
import { LimiterRegistry } from "../../../src/providers/rate-limiter.js";
import type { FromEngine, ToEngine } from "../../../src/threads/messages.js";
import { LimiterServer, ThreadLimiters } from "../../../src/threads/remote-limiters.js";

/** Both ends wired as the threads wire them, each message delivered on a later turn. */
function wired(maxConcurrency: number) {
  const registry = new LimiterRegistry(() => ({ maxConcurrency }), 8);
  const sent: ToEngine["t"][] = [];
  let server!: LimiterServer;
  const client = new ThreadLimiters((m) => {
    sent.push(m.t);
    setImmediate(() => server.handle(m as Extract<ToEngine, { t: "acquire" | "abort" | "release" }>));
  });
  server = new LimiterServer(registry, (m: FromEngine) => {
    if (m.t === "granted" || m.t === "refused") setImmediate(() => client.answered(m));
  });
  return { registry, client, server, sent };
}

const turn = () => new Promise((r) => setImmediate(r));

async function settle(times = 5): Promise<void> {
  for (let i = 0; i < times; i++) await turn();
}

describe("permits across threads", () => {
  it("shares the engine thread's limit: a second call waits until the first releases", async () => {
    const { registry, client } = wired(1);
    const first = await client.get("p").acquire(10, new AbortController().signal);
    expect(registry.get("p").running).toBe(1);
    let second = false;
    const waiting = client
      .get("p")
      .acquire(10, new AbortController().signal)
      .then((p) => {
        second = true;
        return p;
      });
    await settle();
    expect(second).toBe(false);
    first.release({ kind: "failed", code: 400, message: "x" });
    const permit = await waiting;
    expect(registry.get("p").running).toBe(1);
    permit.release(null);
    await settle();
    expect(registry.get("p").running).toBe(0);
  });

  it("gives back a wait the caller aborted, granted or not", async () => {
    const { registry, client } = wired(1);
    const held = await client.get("p").acquire(1, new AbortController().signal);
    const controller = new AbortController();
    const waiting = client.get("p").acquire(1, controller.signal);
    await settle();
    controller.abort();
    await expect(waiting).rejects.toThrow(/aborted/);
    held.release(null);
    await settle();
    expect(registry.get("p").running).toBe(0);
    expect(registry.get("p").waiting).toBe(0);

    // Aborted here after the engine thread granted it, before the grant arrived: released there.
    const late = new AbortController();
    const raced = client.get("p").acquire(1, late.signal);
    late.abort();
    await expect(raced).rejects.toThrow(/aborted/);
    await settle();
    expect(registry.get("p").running).toBe(0);
  });

  it("learns a 429 from a released outcome, and closing rejects the waiters", async () => {
    const { registry, client } = wired(4);
    const permit = await client.get("p").acquire(1, new AbortController().signal);
    permit.release({
      kind: "retryable",
      code: 429,
      message: "slow down",
      rateLimited: true,
      retryAfterMs: 50,
    });
    await settle();
    expect(registry.get("p").rateLimitedCount).toBe(1);
    expect(registry.get("p").currentConcurrencyLimit).toBe(2);
    client.close();
    await expect(client.get("p").acquire(1, new AbortController().signal)).rejects.toThrow(/closed/);
  });
});
