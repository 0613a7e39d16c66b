import { hostname } from "node:os";
import type { Logger } from "pino";
import { executeTurn, prepareTurn } from "../agents/runner.js";
import type { EngineConfig } from "../config/index.js";
import type { ProviderRegistry } from "../providers/registry.js";
import type { ModelOutcome } from "../providers/types.js";
import type { AgentVersion, ClaimedItem, CommitReport, ItemOutcome, Store } from "../store/types.js";
import { retryDelayMs } from "./backoff.js";
import { Completer } from "./completer.js";
import { costOf, type PriceTable } from "./pricing.js";
import { LimiterRegistry } from "./rate-limiter.js";
import type { Signals } from "./signals.js";

export interface EngineDeps {
  store: Store;
  providers: ProviderRegistry;
  signals: Signals;
  config: EngineConfig;
  prices: PriceTable;
  logger: Logger;
}

/** An item this process holds a lease on, from claim until its outcome is stored. */
interface HeldItem {
  item: ClaimedItem;
  abort: AbortController;
  /** True once the model call started (an unstarted item can be handed back untouched). */
  started: boolean;
}

export interface EngineStats {
  owner: string;
  held: number;
  running: number;
  buffered: number;
  claimed: number;
  committed: number;
  discarded: number;
}

/**
 * The scheduler of one process: claims runnable items in groups (fairly, see the store),
 * runs them with bounded concurrency under per-upstream rate limits, retries with backoff,
 * keeps leases alive, and group-commits outcomes. Maintenance (returning expired leases,
 * expiring batches) runs here too; the store's statements make it safe to run in every process.
 */
export class Engine {
  readonly owner = `${hostname()}:${process.pid}:${crypto.randomUUID().slice(0, 8)}`;
  private readonly held = new Map<number, HeldItem>();
  private readonly limiters: LimiterRegistry;
  private readonly completer: Completer;
  private readonly versions = new Map<string, Promise<AgentVersion | undefined>>();
  private running = false;
  private loopDone: Promise<void> = Promise.resolve();
  private wake: (() => void) | null = null;
  private timers: NodeJS.Timeout[] = [];
  private unsubscribe: (() => void) | null = null;
  private counts = { claimed: 0, committed: 0, discarded: 0, inCall: 0 };

  constructor(private readonly deps: EngineDeps) {
    this.limiters = new LimiterRegistry((p) => deps.providers.limitsFor(p), deps.config.concurrency);
    this.completer = new Completer(
      deps.store,
      deps.config.commitBatchSize,
      deps.config.commitIntervalMs,
      (outcomes, report) => this.committed(outcomes, report),
      (err) =>
        deps.logger.error({ err }, "storing results failed; the items will be retried after their lease"),
    );
  }

  get limiterRegistry(): LimiterRegistry {
    return this.limiters;
  }

  stats(): EngineStats {
    return {
      owner: this.owner,
      held: this.held.size,
      running: this.counts.inCall,
      buffered: this.completer.buffered,
      claimed: this.counts.claimed,
      committed: this.counts.committed,
      discarded: this.counts.discarded,
    };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = this.deps.signals.onWork(() => this.poke());
    const { leaseMs, pollIntervalMs } = this.deps.config;
    this.timers.push(setInterval(() => void this.renewLeases(), Math.max(50, Math.floor(leaseMs / 3))));
    this.timers.push(setInterval(() => void this.maintain(), Math.max(pollIntervalMs, 1000)));
    this.loopDone = this.claimLoop();
    void this.maintain();
  }

  /**
   * Stops claiming, lets running calls finish for up to `graceMs`, stores their outcomes, and
   * hands every other held item back to pending so that another worker takes it at once.
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.unsubscribe?.();
    this.poke();
    await this.loopDone;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    // Unstarted items go back untouched; waiting on a rate limit is aborted.
    for (const h of this.held.values()) if (!h.started) h.abort.abort();
    const deadline = Date.now() + graceMs;
    while (this.counts.inCall > 0 && Date.now() < deadline) await delay(20);
    for (const h of this.held.values()) h.abort.abort();
    while (this.counts.inCall > 0) await delay(5);
    await this.completer.flush();
    const left = [...this.held.values()].map((h) => ({ itemId: h.item.id, attempt: h.item.attempt }));
    if (left.length > 0) {
      await this.deps.store.releaseItems(this.owner, left);
      this.held.clear();
    }
    this.limiters.close();
  }

  /** Wakes the claim loop (new work, or capacity freed). */
  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private async claimLoop(): Promise<void> {
    const { concurrency, claimBatchSize, leaseMs, pollIntervalMs } = this.deps.config;
    while (this.running) {
      const free = concurrency - this.held.size;
      let claimed = 0;
      if (free > 0) {
        try {
          const items = await this.deps.store.claimItems(
            this.owner,
            Math.min(free, claimBatchSize),
            leaseMs,
            Date.now(),
          );
          claimed = items.length;
          this.counts.claimed += claimed;
          for (const item of items) this.begin(item);
          if (claimed > 0) {
            this.deps.signals.notifyBatchChanged({
              batchIds: [...new Set(items.map((i) => i.batchId))],
              transitions: [],
            });
          }
        } catch (err) {
          this.deps.logger.error({ err }, "claiming items failed");
        }
      }
      if (!this.running) break;
      // Claimed a full group and have room: claim again at once. Otherwise sleep until poked.
      if (claimed > 0 && claimed === Math.min(free, claimBatchSize) && this.held.size < concurrency) continue;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.wake = null;
          resolve();
        }, pollIntervalMs);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  private begin(item: ClaimedItem): void {
    const held: HeldItem = { item, abort: new AbortController(), started: false };
    this.held.set(item.id, held);
    this.run(held).catch((err) => {
      this.deps.logger.error({ err, batch_id: item.batchId, custom_id: item.customId }, "item run crashed");
      this.finish(held, {
        kind: "failed",
        errorCode: 500,
        errorMessage: "Internal server error during processing",
      });
    });
  }

  private agentVersion(agentId: string, version: number): Promise<AgentVersion | undefined> {
    const key = `${agentId}@${version}`;
    let p = this.versions.get(key);
    if (!p) {
      // Published versions never change, so they are cached for the life of the process.
      p = this.deps.store.getAgentVersion(agentId, version);
      this.versions.set(key, p);
      p.catch(() => this.versions.delete(key));
    }
    return p;
  }

  private async run(held: HeldItem): Promise<void> {
    const { item } = held;
    const { store, providers, config, prices } = this.deps;
    const agent = await this.agentVersion(item.agentId, item.agentVersion);
    if (!agent) {
      this.finish(held, {
        kind: "failed",
        errorCode: 400,
        errorMessage: `agent ${item.agentId} version ${item.agentVersion} not found`,
      });
      return;
    }
    const history = item.historyId === null ? [] : await store.listMessages(item.historyId);
    const prepared = prepareTurn({ agent, message: item.message, history }, providers);
    if (!prepared.ok) {
      this.finish(held, { kind: "failed", errorCode: prepared.code, errorMessage: prepared.message });
      return;
    }
    const turn = prepared.turn;
    const limiter = this.limiters.get(turn.provider);
    let permit: Awaited<ReturnType<typeof limiter.acquire>>;
    try {
      permit = await limiter.acquire(turn.estimatedTokens, held.abort.signal);
    } catch {
      // Aborted while waiting (shutdown or lost lease): the item stays held for release.
      return;
    }
    if (held.abort.signal.aborted) {
      permit.release(null);
      return;
    }
    held.started = true;
    this.counts.inCall++;
    const startedAt = Date.now();
    let outcome: ModelOutcome;
    try {
      outcome = await executeTurn(turn, providers, held.abort.signal);
    } finally {
      this.counts.inCall--;
    }
    const usedTokens =
      outcome.kind === "success" ? outcome.usage.promptTokens + outcome.usage.completionTokens : undefined;
    permit.release(outcome, usedTokens);
    if (outcome.kind === "success") {
      const { promptTokens, completionTokens } = outcome.usage;
      this.finish(held, {
        kind: "success",
        responseContent: outcome.text,
        responseUsage: {
          tool_calls: [
            {
              model: outcome.model || turn.model,
              call_type: "llm_call",
              total_tokens: promptTokens + completionTokens,
              prompt_tokens: promptTokens,
              completion_tokens: completionTokens,
            },
          ],
          total_calls: 1,
          total_tokens: promptTokens + completionTokens,
          main_response: null,
          total_prompt_tokens: promptTokens,
          total_completion_tokens: completionTokens,
        },
        promptTokens,
        completionTokens,
        cost: costOf(prices, turn.provider, turn.model, promptTokens, completionTokens),
        responseTimeMs: Date.now() - startedAt,
        workspaceId: item.workspaceId,
        agentId: item.agentId,
        message: item.message,
        chatName: item.name ?? item.message.slice(0, 64),
        externalUserId: item.externalUserId,
        historyId: item.historyId,
      });
    } else if (outcome.kind === "retryable" && item.attempt < config.maxAttempts) {
      const wait = retryDelayMs(item.attempt, config.retryBaseMs, config.retryMaxMs, outcome.retryAfterMs);
      this.finish(held, {
        kind: "retry",
        notBefore: Date.now() + wait,
        errorCode: outcome.code,
        errorMessage: outcome.message,
      });
    } else {
      this.finish(held, { kind: "failed", errorCode: outcome.code, errorMessage: outcome.message });
    }
  }

  private finish(
    held: HeldItem,
    outcome: DistributiveOmit<ItemOutcome, "itemId" | "batchId" | "leaseOwner" | "attempt">,
  ): void {
    if (held.abort.signal.aborted && !this.running && outcome.kind !== "success") return; // handed back on stop
    const { item } = held;
    this.completer.add({
      ...outcome,
      itemId: item.id,
      batchId: item.batchId,
      leaseOwner: this.owner,
      attempt: item.attempt,
    } as ItemOutcome);
  }

  private committed(outcomes: ItemOutcome[], report: CommitReport): void {
    for (const o of outcomes) this.held.delete(o.itemId);
    this.counts.committed += report.applied;
    this.counts.discarded += report.discarded;
    if (report.discarded > 0) {
      this.deps.logger.warn(
        { discarded: report.discarded },
        "results of items whose lease was lost were discarded",
      );
    }
    this.deps.signals.notifyBatchChanged({
      batchIds: report.touchedBatchIds,
      transitions: report.transitions,
    });
    if (outcomes.some((o) => o.kind === "retry")) this.deps.signals.notifyWork();
    this.poke();
  }

  private async renewLeases(): Promise<void> {
    if (this.held.size === 0) return;
    const ids = [...this.held.keys()];
    try {
      const lost = await this.deps.store.renewLeases(this.owner, ids, Date.now() + this.deps.config.leaseMs);
      for (const id of lost) {
        const h = this.held.get(id);
        if (!h) continue;
        // Another worker owns it now (or it was cancelled): stop spending on it.
        this.deps.logger.warn({ batch_id: h.item.batchId, custom_id: h.item.customId }, "lease lost");
        h.abort.abort();
        this.held.delete(id);
      }
    } catch (err) {
      this.deps.logger.error({ err }, "renewing leases failed");
    }
  }

  private maintaining = false;

  private async maintain(): Promise<void> {
    if (this.maintaining) return;
    this.maintaining = true;
    try {
      const now = Date.now();
      const reaped = await this.deps.store.reapExpiredLeases(now, this.deps.config.maxAttempts);
      const expired = await this.deps.store.expireBatches(now);
      for (const report of [reaped, expired]) {
        if (report.applied > 0 || report.transitions.length > 0) {
          this.deps.signals.notifyBatchChanged({
            batchIds: report.touchedBatchIds,
            transitions: report.transitions,
          });
        }
      }
      if (reaped.applied > 0) {
        this.deps.logger.info({ items: reaped.applied }, "returned items with expired leases");
        this.deps.signals.notifyWork();
      }
    } catch (err) {
      this.deps.logger.error({ err }, "maintenance failed");
    } finally {
      this.maintaining = false;
    }
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
