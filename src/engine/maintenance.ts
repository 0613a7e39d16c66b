import type { Logger } from "pino";
import type { EngineConfig } from "../config/index.js";
import type { CommitReport } from "../store/types.js";
import type { EngineStore } from "./engine-store.js";
import { BackgroundLoop } from "./loop.js";
import type { Recovery } from "./recovery.js";
import type { Signals } from "./signals.js";

export interface MaintenanceDeps {
  store: Pick<EngineStore, "items" | "batches" | "workers">;
  config: Pick<EngineConfig, "leaseMs" | "pollIntervalMs" | "quarantineAfter">;
  signals: Signals;
  logger: Logger;
  /** Returns the items of dead workers (each run, before the reaper). */
  recovery: Recovery;
}

const NOTHING_REAPED: CommitReport = { applied: 0, discarded: 0, transitions: [], touchedBatchIds: [] };

/**
 * The maintenance services (River's rescuer and cleaner): returns items whose lease expired to
 * pending (or quarantines them), returns at once the items of workers known dead (recovery.ts),
 * and fails the pending items of batches past their completion window with 408. It runs through
 * `workers.runAsLeader`, so one process at a time does it, at least every second.
 */
export class Maintenance {
  private readonly loop: BackgroundLoop;

  constructor(private readonly deps: MaintenanceDeps) {
    const { leaseMs, pollIntervalMs } = deps.config;
    this.loop = new BackgroundLoop({
      iteration: () => this.runAsLeader(),
      intervalMs: Math.max(250, Math.min(1000, pollIntervalMs, Math.floor(leaseMs / 2))),
      onError: (err) => deps.logger.error({ err }, "maintenance failed"),
    });
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  private async runAsLeader(): Promise<void> {
    await this.deps.store.workers.runAsLeader("maintenance", () => this.reapAndExpire());
  }

  private async reapAndExpire(): Promise<void> {
    const { store, config, signals, logger } = this.deps;
    // One read of the held items' owners and earliest leases serves both the recovery and the
    // reaper: with thousands in flight, each scan of them once a second was measurable (3-4 % of
    // the engine thread at 10,000 in flight, bench/README.md). An item claimed after this read
    // has a lease from its claim on; one whose lease runs out meanwhile is reaped next run.
    const holders = await store.items.leaseHolders();
    await this.deps.recovery.run(holders);
    const now = Date.now();
    const reaped = holders.some((h) => h.earliestExpiry <= now)
      ? await store.items.reapExpired(now, config.quarantineAfter)
      : NOTHING_REAPED;
    const expired = await store.batches.expire(now);
    for (const report of [reaped, expired]) {
      if (report.applied > 0 || report.transitions.length > 0) {
        signals.notifyBatchChanged({ batchIds: report.touchedBatchIds, transitions: report.transitions });
      }
    }
    if (reaped.applied > 0) {
      logger.info({ items: reaped.applied }, "returned items with expired leases");
      signals.notifyWork();
    }
  }
}
