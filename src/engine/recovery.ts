import type { Logger } from "pino";
import type { EngineConfig } from "../config/index.js";
import type { LeaseHolder } from "../store/types.js";
import type { EngineStore } from "./engine-store.js";
import { WORKER_STALE_MS } from "./heartbeat.js";
import { knownDead } from "./instances.js";
import type { Signals } from "./signals.js";

export interface RecoveryDeps {
  store: Pick<EngineStore, "items" | "workers" | "capabilities">;
  owner: string;
  config: Pick<EngineConfig, "quarantineAfter">;
  signals: Signals;
  logger: Logger;
}

/**
 * Returns the items held by dead instances as soon as they are known dead, instead of after
 * their leases: on a store shared by processes (PostgreSQL), the owners whose heartbeat is
 * stale; on SQLite, earlier instances on this host whose process is gone (checked at start and
 * by maintenance). Each such item counts an interruption, not an attempt, and is quarantined
 * after `quarantineAfter` of them.
 */
export class Recovery {
  constructor(private readonly deps: RecoveryDeps) {}

  /**
   * Returns the items of the dead among `holders` (read from the store when not given: maintenance
   * reads them once a run for this and for its reaper).
   */
  async run(holders?: LeaseHolder[]): Promise<void> {
    const { store, owner, config, signals, logger } = this.deps;
    const owners = (holders ?? (await store.items.leaseHolders()))
      .map((h) => h.owner)
      .filter((o) => o !== owner);
    if (owners.length === 0) return;
    const now = Date.now();
    let dead: string[];
    if (store.capabilities.sharedByProcesses) {
      const live = new Set(await store.workers.live(WORKER_STALE_MS));
      dead = owners.filter((o) => !live.has(o));
    } else {
      dead = owners.filter((o) => knownDead(o, owner));
    }
    if (dead.length === 0) return;
    const report = await store.items.recoverFrom(dead, now, config.quarantineAfter);
    if (report.applied === 0) return;
    logger.info({ items: report.applied, owners: dead }, "returned the items of dead workers");
    signals.notifyBatchChanged({ batchIds: report.touchedBatchIds, transitions: report.transitions });
    signals.notifyWork();
  }
}
