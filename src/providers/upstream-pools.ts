import { Pool } from "undici";

/**
 * Connections per undici pool. A pool finds a free connection by walking its list from the
 * front, past every busy one: with 10,000 calls in flight on one pool that walk was 4 % of the
 * process's CPU, and 3.4 % of the engine thread's samples still with pools of 256, 1.3 % with 64
 * and 0.4 % with 16, but 16 held 15-20 MB more at 10,000 in flight (bench/README.md, "Issue
 * 17.3, the pools' walk"). Larger limits are spread over several pools.
 */
const CONNECTIONS_PER_POOL = 64;
const KEEP_ALIVE_MS = 30_000;

/**
 * One upstream's connections as undici pools of at most `CONNECTIONS_PER_POOL`, each call on a
 * pool with a connection to spare: the one freed last, so picking a pool costs the same with 1
 * pool or 600, and a few calls in flight stay on one pool's warm connections. A call is counted
 * in flight on its pool from `acquire` until `release`, which its caller makes as soon as undici
 * is done with the connection (`http-upstream.ts`, `Call.freeConnection`).
 */
export class UpstreamPools {
  private readonly pools: Pool[];
  /** Each pool's connection limit. */
  private readonly capacity: number[];
  /** Calls in flight on each pool. */
  private readonly inFlight: number[];
  /** The pools with fewer calls in flight than their limit, the one freed last on top. */
  private readonly spare: number[];

  /** `timeoutMs`: undici's headers and body timeouts (the caller bounds the whole call itself). */
  constructor(origin: string, connections: number, timeoutMs: number) {
    const count = Math.max(1, Math.ceil(connections / CONNECTIONS_PER_POOL));
    // The limit split over the pools, the first ones taking the remainder.
    this.capacity = Array.from(
      { length: count },
      (_, i) => Math.floor(connections / count) + (i < connections % count ? 1 : 0),
    );
    this.pools = this.capacity.map(
      (capacity) =>
        new Pool(origin, {
          connections: capacity,
          keepAliveTimeout: KEEP_ALIVE_MS,
          // These only stop undici's 300 s defaults from outliving a longer configured timeout.
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        }),
    );
    this.inFlight = this.pools.map(() => 0);
    this.spare = this.pools.map((_, i) => count - 1 - i);
  }

  /** The pool (its index) a call goes to, counted in flight there until `release`. */
  acquire(): number {
    const top = this.spare.length - 1;
    let shard: number;
    if (top >= 0) {
      shard = this.spare[top];
      if (this.inFlight[shard] + 1 === this.capacity[shard]) this.spare.pop();
    } else {
      // More calls than connections (the provider's limiter normally prevents it): the least
      // busy pool queues this one.
      shard = 0;
      for (let i = 1; i < this.inFlight.length; i++) if (this.inFlight[i] < this.inFlight[shard]) shard = i;
    }
    this.inFlight[shard]++;
    return shard;
  }

  pool(shard: number): Pool {
    return this.pools[shard];
  }

  /** A call on `shard` no longer holds a connection. */
  release(shard: number): void {
    // Back under its limit: it has a connection to spare again.
    if (this.inFlight[shard]-- === this.capacity[shard]) this.spare.push(shard);
  }

  async close(): Promise<void> {
    await Promise.all(this.pools.map((p) => p.close()));
  }
}
