/**
 * Limit shares between worker processes on one PostgreSQL database: a worker alone takes the
 * whole limit from its second beat; one that joins holds no share until the first has cut its
 * own to a half, so the two shares never add up to more than the limit.
 */
import pino from "pino";
import { afterAll, expect, it } from "vitest";
import { Heartbeat } from "../../src/engine/heartbeat.js";
import { LimiterRegistry } from "../../src/providers/rate-limiter.js";
import { openStore, type Store } from "../../src/store/index.js";
import { dropSchema } from "../../src/store/postgres/admin.js";
import { freshPostgresUrl, waitFor } from "../helpers/server.js";

const db = freshPostgresUrl();
const stores: Store[] = [];
const heartbeats: Heartbeat[] = [];

afterAll(async () => {
  for (const h of heartbeats) await h.stop();
  for (const s of stores) await s.close();
  await dropSchema(db);
});

/** Every share change of every worker, in order. */
const changes: string[] = [];

class RecordingRegistry extends LimiterRegistry {
  current = 1;
  constructor(private readonly name: string) {
    super(() => ({ rpm: 600 }), 100);
  }
  override setShare(share: number, opts: { fill?: boolean } = {}): void {
    // Called by hold() too (share 0).
    super.setShare(share, opts);
    if (share !== this.current) changes.push(`${this.name} ${share}`);
    this.current = share;
  }
}

async function worker(name: string): Promise<RecordingRegistry> {
  const store = await openStore(db);
  stores.push(store);
  const limiters = new RecordingRegistry(name);
  const heartbeat = new Heartbeat({ store, owner: name, limiters, logger: pino({ level: "silent" }) });
  heartbeats.push(heartbeat);
  heartbeat.start();
  await heartbeat.firstBeat;
  return limiters;
}

it("a joining worker takes its share only after the others have cut theirs", async () => {
  const a = await worker("a");
  await waitFor(() => a.current === 1, { timeoutMs: 15_000, what: "a to take the whole limit" });
  const b = await worker("b");
  expect(b.current).toBe(0);
  await waitFor(() => b.current === 0.5, { timeoutMs: 15_000, what: "b to take its share" });
  expect(a.current).toBe(0.5);
  expect(changes.indexOf("a 0.5")).toBeGreaterThanOrEqual(0);
  expect(changes.indexOf("a 0.5")).toBeLessThan(changes.indexOf("b 0.5"));
  // b stops: a grows back into the whole limit.
  await heartbeats[1].stop();
  await waitFor(() => a.current === 1, { timeoutMs: 15_000, what: "a to take the whole limit again" });
});
