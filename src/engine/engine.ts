import type { Logger } from "pino";
import { EmbeddingBatcher } from "../agents/embedding-batcher.js";
import type { HttpToolCaller } from "../agents/tools/http.js";
import type { EngineConfig } from "../config/index.js";
import type { PriceTable } from "../domain/pricing.js";
import { LimiterRegistry } from "../providers/rate-limiter.js";
import type { ProviderRegistry } from "../providers/registry.js";
import { Completer } from "./completer.js";
import type { EngineStore } from "./engine-store.js";
import { type AttachmentLoader, ItemExecutor } from "./executor.js";
import { Heartbeat } from "./heartbeat.js";
import { type HeldItem, HeldItems } from "./held-items.js";
import { newOwnerId } from "./instances.js";
import { LeaseKeeper } from "./leases.js";
import { Maintenance } from "./maintenance.js";
import type { EngineMetrics } from "./metrics.js";
import { INTERNAL_FAILURE, type ItemResult } from "./outcomes.js";
import { Pacer } from "./pacer.js";
import { Producer } from "./producer.js";
import { Recovery } from "./recovery.js";
import type { Signals } from "./signals.js";
import { engineTrace } from "./trace.js";

export interface EngineDeps {
  store: EngineStore;
  providers: ProviderRegistry;
  signals: Signals;
  config: EngineConfig;
  prices: PriceTable;
  logger: Logger;
  /** Reads attached files; items with attachments fail without it. */
  attachments?: AttachmentLoader;
  /** Per-upstream limits shared with the API process's chat turns; the engine makes its own without. */
  limiters?: LimiterRegistry;
  /** Hooks for /metrics (upstream latency, 429s, retries). */
  metrics?: EngineMetrics;
  /** Calls agents' http tools; agents with tools fail without it. */
  tools?: HttpToolCaller;
}

export interface EngineStats {
  owner: string;
  held: number;
  running: number;
  buffered: number;
  /** Items claimed ahead, waiting in the local buffer for a slot. */
  claimedAhead: number;
  claimed: number;
  committed: number;
  discarded: number;
}

/**
 * The scheduler of one process, composed of its roles: the producer claims items into free
 * slots, the executor runs each one's turn under the per-upstream limits, the lease keeper keeps
 * (or gives up) what this process holds, the heartbeat shares the limits with other workers,
 * maintenance reaps and expires as the leader, and the completer group-commits outcomes.
 */
export class Engine {
  readonly owner = newOwnerId();
  readonly limiterRegistry: LimiterRegistry;
  private readonly held = new HeldItems();
  /** Each started item's run, until it settled. */
  private readonly runs = new Map<HeldItem, Promise<void>>();
  private inCall = 0;
  private running = false;
  private unsubscribe: (() => void)[] = [];
  private readonly executor: ItemExecutor;
  private readonly producer: Producer;
  private readonly leases: LeaseKeeper;
  private readonly heartbeat: Heartbeat;
  private readonly maintenance: Maintenance;
  private readonly completer: Completer;
  /** Buffered items start at most a turn's budget at a time (`pacer.ts`). */
  private readonly pacer = new Pacer(() => this.startNext());

  constructor(private readonly deps: EngineDeps) {
    const { store, providers, signals, config, logger, metrics } = deps;
    const { held, owner } = this;
    const limiters = deps.limiters ?? new LimiterRegistry((p) => providers.limitsFor(p), config.concurrency);
    this.limiterRegistry = limiters;
    this.executor = new ItemExecutor({
      store,
      attachments: deps.attachments,
      owner: this.owner,
      tools: deps.tools,
      turns: { providers, limiters, metrics, embeddings: new EmbeddingBatcher() },
      policy: config,
      prices: deps.prices,
      metrics,
      logger,
    });
    this.heartbeat = new Heartbeat({ store, owner, limiters, logger });
    // What every role shares: the store, the items this process holds, its owner id, config, signals, log.
    const shared = { store, held, owner, config, signals, logger };
    const recovery = new Recovery({ store, owner, config, signals, logger });
    this.producer = new Producer({
      ...shared,
      preempt: (workspaceId, count) => this.leases.preempt(workspaceId, count),
      // Before the first claim: this process's share of the limits is known, and the items of
      // dead earlier instances (a crash just before this start) are back.
      ready: async () => {
        await this.heartbeat.firstBeat;
        await recovery.run().catch((err) => logger.error({ err }, "recovering items of dead workers failed"));
      },
      begin: (item) => {
        this.held.add(item);
        this.fillSlots();
      },
    });
    const poke = () => {
      this.fillSlots();
      this.producer.poke();
    };
    this.leases = new LeaseKeeper({
      store,
      held,
      owner,
      leaseMs: config.leaseMs,
      cancelAbortsInFlight: config.cancelAbortsInFlight,
      signals,
      logger,
      onHandedBack: poke,
    });
    this.maintenance = new Maintenance({ store, config, signals, logger, recovery });
    this.completer = new Completer({
      ...shared,
      onSlotFreed: () => {
        this.fillSlots();
        this.producer.slotFreed();
      },
      onCommitted: poke,
    });
  }

  stats(): EngineStats {
    return {
      owner: this.owner,
      held: this.held.size,
      running: this.inCall,
      buffered: this.completer.buffered,
      claimedAhead: this.held.buffered,
      claimed: this.producer.claimed,
      ...this.completer.counts,
    };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    engineTrace?.event("up");
    this.pacer.resume();
    this.unsubscribe = [
      this.deps.signals.onWork(() => {
        engineTrace?.event("work");
        this.producer.workArrived();
      }),
      this.deps.signals.onBatchChanged((change) => this.leases.batchChanged(change)),
    ];
    this.heartbeat.start();
    this.producer.start();
    this.leases.start();
    this.maintenance.start();
  }

  /**
   * Drain, then stop: stops claiming, hands back what has not started, lets running calls finish
   * for up to `graceMs` (then aborts them), stores the outcomes, and hands every other held item
   * back to pending so that another worker takes it at once.
   */
  async stop(graceMs = this.deps.config.shutdownGraceMs): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.pacer.stop();
    for (const u of this.unsubscribe) u();
    this.unsubscribe = [];
    await this.producer.stop();
    // Unstarted items go back untouched and at once (another worker may take them during the
    // grace); an item waiting on a rate limit is aborted with its run.
    const handedBack = this.leases.handBackUnstarted().catch((err) => {
      this.deps.logger.error({ err }, "handing back unstarted items failed; they return after their lease");
    });
    await settledWithin([...this.runs.values()], graceMs);
    for (const h of this.held.values()) h.abort.abort();
    await Promise.all([...this.runs.values()]);
    await handedBack;
    await Promise.all([this.leases.stop(), this.maintenance.stop()]);
    await this.completer.flush();
    await this.leases.releaseAll();
    // The limiters are not closed here: the API's chat turns share them and may still be in
    // their grace (the engine's own waits ended with its runs); closeCore closes them.
    await this.heartbeat.stop();
  }

  /**
   * Starts buffered items in the free slots, oldest claim first: a finished item's slot is taken
   * without a claim. Paced: at most a turn's budget now, the rest on the next event-loop turns,
   * so that a burst of answers (10,000 calls in flight) does not hold the loop. Not once
   * stopping: the buffer is handed back. An item handed back meanwhile (pause, cancel,
   * preemption) has left the buffer and never starts.
   */
  private fillSlots(): void {
    this.pacer.run();
  }

  /** Starts the oldest buffered item in a free slot; false when there is none or no slot. */
  private startNext(): boolean {
    if (!this.running || this.held.running >= this.deps.config.concurrency) return false;
    const held = this.held.next();
    if (!held) return false;
    this.begin(held);
    return true;
  }

  private begin(held: HeldItem): void {
    this.runs.set(held, this.run(held));
  }

  /**
   * One item's run to its settled outcome, as one async function: at 10,000 in flight the
   * `.catch().then().finally()` chain it replaces cost three more promises and closures per item,
   * all living as long as the call.
   */
  private async run(held: HeldItem): Promise<void> {
    const { item } = held;
    let result: ItemResult | null;
    try {
      try {
        result = await this.executor.execute(
          held,
          () => {
            held.started = true;
            this.inCall++;
            engineTrace?.event("start", this.held.running, this.held.buffered, item.id);
          },
          // Its answer is in: its slot takes the next item now, before this answer is read, and
          // its room in the claim buffer counts as free.
          () => {
            if (!this.held.markAnswered(held)) return;
            engineTrace?.event("ans", this.held.running, this.held.buffered, item.id);
            this.fillSlots();
            this.producer.slotFreed();
          },
        );
      } catch (err) {
        this.deps.logger.error(
          { err, batch_id: item.batchId, item_id: item.id, custom_id: item.customId },
          "item run crashed",
        );
        result = { ...INTERNAL_FAILURE }; // fresh: the completer sets the item's fields on it
      }
      if (held.started) this.inCall--;
      this.settle(held, result);
      // Its slot may have freed without an outcome (lease lost, handed back).
      this.fillSlots();
    } finally {
      this.runs.delete(held);
    }
  }

  /** Hands a finished item's outcome to the completer, unless the item is no longer this process's to store. */
  private settle(held: HeldItem, result: ItemResult | null): void {
    // Stopped before its call (handed back), or its lease was lost (another worker owns it now).
    if (result === null || !this.held.holds(held)) return;
    // Aborted mid-call by stop(): the item is handed back rather than charged a failed attempt.
    if (held.abort.aborted && result.kind !== "success") return;
    this.completer.finish(held, result);
  }
}

/** Resolves once every promise settled, or after `ms`, whichever comes first. */
async function settledWithin(promises: Promise<unknown>[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race([Promise.allSettled(promises), timeout]);
  clearTimeout(timer);
}
