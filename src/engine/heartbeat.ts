import type { Logger } from "pino";
import type { LimiterRegistry } from "../providers/rate-limiter.js";
import type { EngineStore } from "./engine-store.js";
import { BackgroundLoop } from "./loop.js";

/** How often a worker sharing limits with others records that it is alive. */
const HEARTBEAT_MS = 1000;
/**
 * A worker not seen for this long is taken for dead: it stops counting in the limit shares and
 * the items it held are returned at once (engine/recovery.ts).
 */
export const WORKER_STALE_MS = 3 * HEARTBEAT_MS;

export interface HeartbeatDeps {
  store: Pick<EngineStore, "workers" | "capabilities">;
  owner: string;
  limiters: LimiterRegistry;
  logger: Logger;
}

/**
 * On a database shared by several processes, each worker beats a heartbeat into the store and
 * takes 1 / live workers of every upstream's limits. On a database of one process (SQLite) there
 * is nothing to share: it does nothing and the process keeps the whole limit.
 */
export class Heartbeat {
  private readonly loop: BackgroundLoop | null = null;
  private first: Promise<void> = Promise.resolve();
  private resolveFirst: () => void = () => {};

  constructor(private readonly deps: HeartbeatDeps) {
    if (!deps.store.capabilities.sharedByProcesses) return;
    this.loop = new BackgroundLoop({
      iteration: () => this.beat(),
      intervalMs: HEARTBEAT_MS,
      onError: (err) => deps.logger.error({ err }, "worker heartbeat failed"),
    });
  }

  /** Resolves once the first beat is done (or failed): the share of the limits is known. */
  get firstBeat(): Promise<void> {
    return this.first;
  }

  start(): void {
    if (!this.loop) return;
    this.first = new Promise((resolve) => {
      this.resolveFirst = resolve;
    });
    this.loop.start();
  }

  /** Stops beating and forgets this worker, so the others take its share at once. */
  async stop(): Promise<void> {
    if (!this.loop) return;
    await this.loop.stop();
    this.resolveFirst();
    await this.deps.store.workers
      .remove(this.deps.owner)
      .catch((err) => this.deps.logger.warn({ err }, "could not remove this worker's heartbeat row"));
  }

  private async beat(): Promise<void> {
    try {
      const now = Date.now();
      const live = await this.deps.store.workers.heartbeat(this.deps.owner, now, now - WORKER_STALE_MS);
      this.deps.limiters.setShare(1 / live);
    } finally {
      this.resolveFirst();
    }
  }
}
