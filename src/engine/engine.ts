import { hostname } from "node:os";
import type { Logger } from "pino";
import { executeTurn, type PrepareResult, prepareTurn } from "../agents/runner.js";
import type { EngineConfig } from "../config/index.js";
import { costOf, type PriceTable } from "../domain/pricing.js";
import { type LoadedAttachments, loadAttachments } from "../files/attachments.js";
import type { FileStorage } from "../files/storage.js";
import { LimiterRegistry } from "../providers/rate-limiter.js";
import type { ProviderRegistry } from "../providers/registry.js";
import type { ModelOutcome } from "../providers/types.js";
import type { AgentVersion, ClaimedItem, CommitReport, ItemOutcome, Store } from "../store/types.js";
import { retryDelayMs } from "./backoff.js";
import { Completer } from "./completer.js";
import type { EngineMetrics } from "./metrics.js";
import type { BatchChange, Signals } from "./signals.js";

/** How often a worker sharing limits with others records that it is alive. */
const HEARTBEAT_MS = 2000;
/** A worker not seen for this long is taken for dead and stops counting in the limit shares. */
const WORKER_STALE_MS = 3 * HEARTBEAT_MS;
/** Batch statuses in which no item may start: items held but not started are handed back. */
const HALTED_STATUSES = new Set(["paused", "cancelling", "cancelled"]);

export interface EngineDeps {
  store: Store;
  providers: ProviderRegistry;
  signals: Signals;
  config: EngineConfig;
  prices: PriceTable;
  logger: Logger;
  /** Where attached files are read from; items with attachments fail without it. */
  files?: FileStorage;
  /** Per-upstream limits shared with the API process's chat turns; the engine makes its own without. */
  limiters?: LimiterRegistry;
  /** Hooks for /metrics (upstream latency, 429s, retries). */
  metrics?: EngineMetrics;
}

/** An item this process holds a lease on, from claim until its outcome is stored. */
interface HeldItem {
  item: ClaimedItem;
  abort: AbortController;
  /** True once the model call started (an unstarted item can be handed back untouched). */
  started: boolean;
  /** True once its outcome is buffered for commit: it no longer takes a concurrency slot. */
  done: boolean;
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
  /** Held items whose outcome waits in the completer; they keep their lease but not a slot. */
  private doneCount = 0;
  private readonly limiters: LimiterRegistry;
  private readonly completer: Completer;
  private readonly versions = new Map<string, Promise<AgentVersion | undefined>>();
  private running = false;
  private loopDone: Promise<void> = Promise.resolve();
  private wake: (() => void) | null = null;
  private pokedWhileBusy = false;
  private timers: NodeJS.Timeout[] = [];
  private unsubscribe: (() => void)[] = [];
  /**
   * On PostgreSQL many workers share each upstream's limits: each heartbeats into the workers
   * table and takes 1 / live workers of every limit. Maintenance runs in one process at a time.
   */
  private readonly sharesLimits: boolean;
  private counts = { claimed: 0, committed: 0, discarded: 0, inCall: 0 };

  constructor(private readonly deps: EngineDeps) {
    this.limiters =
      deps.limiters ?? new LimiterRegistry((p) => deps.providers.limitsFor(p), deps.config.concurrency);
    this.sharesLimits = deps.store.capabilities.sharedByProcesses;
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
    this.unsubscribe = [
      this.deps.signals.onWork(() => this.poke()),
      this.deps.signals.onBatchChanged((change) => this.batchChanged(change)),
    ];
    const { leaseMs, pollIntervalMs } = this.deps.config;
    this.timers.push(setInterval(() => void this.renewLeases(), Math.max(50, Math.floor(leaseMs / 3))));
    if (this.sharesLimits) this.timers.push(setInterval(() => void this.heartbeat(), HEARTBEAT_MS));
    // Expired leases are returned within about half a lease (short leases: crashes heal fast).
    const maintainMs = Math.max(1000, Math.min(pollIntervalMs, Math.floor(leaseMs / 2)));
    this.timers.push(setInterval(() => void this.maintain(), maintainMs));
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
    for (const u of this.unsubscribe) u();
    this.unsubscribe = [];
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
      await this.deps.store.items.release(this.owner, left);
      this.held.clear();
      this.doneCount = 0;
    }
    this.limiters.close();
    if (this.sharesLimits) {
      await this.deps.store.workers
        .remove(this.owner)
        .catch((err) => this.deps.logger.warn({ err }, "could not remove this worker's heartbeat row"));
    }
  }

  /** Wakes the claim loop (new work, or capacity freed). */
  private poke(): void {
    const w = this.wake;
    this.wake = null;
    if (w) w();
    else this.pokedWhileBusy = true;
  }

  private async claimLoop(): Promise<void> {
    const { concurrency, claimBatchSize, leaseMs, pollIntervalMs } = this.deps.config;
    // Know the share of the limits before the first call.
    if (this.sharesLimits) await this.heartbeat();
    while (this.running) {
      const free = concurrency - this.busy;
      let claimed = 0;
      if (free > 0) {
        try {
          const items = await this.deps.store.items.claim(
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
      // Either way yield to the event loop first: with an instant model (the simulator) every
      // step resolves as a microtask, and without a macrotask turn HTTP requests would starve.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (claimed > 0 && claimed === Math.min(free, claimBatchSize) && this.busy < concurrency) continue;
      // A poke during the claim (a commit freed slots, work arrived) must not wait for the poll.
      if (this.pokedWhileBusy) {
        this.pokedWhileBusy = false;
        continue;
      }
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

  /** Items that take a concurrency slot: claimed and not yet finished. */
  private get busy(): number {
    return this.held.size - this.doneCount;
  }

  /** Forgets a held item (committed, lease lost, or handed back). */
  private drop(itemId: number): void {
    const h = this.held.get(itemId);
    if (!h) return;
    if (h.done) this.doneCount--;
    this.held.delete(itemId);
  }

  private begin(item: ClaimedItem): void {
    const held: HeldItem = { item, abort: new AbortController(), started: false, done: false };
    this.held.set(item.id, held);
    this.run(held).catch((err) => {
      this.deps.logger.error(
        { err, batch_id: item.batchId, item_id: item.id, custom_id: item.customId },
        "item run crashed",
      );
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
      p = this.deps.store.agents.getVersion(agentId, version);
      this.versions.set(key, p);
      p.catch(() => this.versions.delete(key));
    }
    return p;
  }

  private attachments(item: ClaimedItem): Promise<LoadedAttachments> {
    if (item.attachedFileUuids.length === 0) return Promise.resolve({ ok: true, parts: [] });
    if (!this.deps.files) {
      return Promise.resolve({ ok: false, message: "this worker has no file storage for attached files" });
    }
    return loadAttachments(this.deps.store, this.deps.files, item.workspaceId, item.attachedFileUuids);
  }

  /** The model call of an item: its own request (OpenAI / Anthropic shapes) or its agent's turn. */
  private async prepare(item: ClaimedItem): Promise<PrepareResult> {
    const { store, providers } = this.deps;
    if (item.request) return prepareTurn({ request: item.request }, providers);
    const agent = await this.agentVersion(item.agentId, item.agentVersion);
    if (!agent) {
      return {
        ok: false,
        code: 400,
        message: `agent ${item.agentId} version ${item.agentVersion} not found`,
      };
    }
    const history = item.historyId === null ? [] : await store.chats.listMessages(item.historyId);
    const attachments = await this.attachments(item);
    if (!attachments.ok) return { ok: false, code: 400, message: attachments.message };
    return prepareTurn({ agent, message: item.message, history, attachments: attachments.parts }, providers);
  }

  private async run(held: HeldItem): Promise<void> {
    const { item } = held;
    const { providers, config, prices } = this.deps;
    const prepared = await this.prepare(item);
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
    this.deps.metrics?.upstreamCall({
      provider: turn.provider,
      model: turn.model,
      durationMs: Date.now() - startedAt,
      outcome: outcome.kind,
      rateLimited: outcome.kind === "retryable" && outcome.rateLimited,
    });
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
        finishReason: outcome.finishReason ?? null,
      });
    } else if (outcome.kind === "retryable" && item.attempt < config.maxAttempts) {
      const wait = retryDelayMs(item.attempt, config.retryBaseMs, config.retryMaxMs, outcome.retryAfterMs);
      this.deps.metrics?.itemRetried(turn.provider, turn.model, outcome.code);
      this.deps.logger.debug(
        {
          batch_id: item.batchId,
          item_id: item.id,
          custom_id: item.customId,
          attempt: item.attempt,
          code: outcome.code,
          retry_in_ms: wait,
        },
        "item will be retried",
      );
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
    // The slot frees now, not at the group commit: the next item need not wait for the flush.
    if (!held.done && this.held.get(item.id) === held) {
      held.done = true;
      this.doneCount++;
      // Wake the claimer once a worthwhile group of slots is free, not for every single one.
      const { concurrency } = this.deps.config;
      if (concurrency - this.busy >= Math.max(1, Math.floor(concurrency / 4))) this.poke();
    }
    this.completer.add({
      ...outcome,
      itemId: item.id,
      batchId: item.batchId,
      leaseOwner: this.owner,
      attempt: item.attempt,
    } as ItemOutcome);
  }

  private committed(outcomes: ItemOutcome[], report: CommitReport): void {
    for (const o of outcomes) this.drop(o.itemId);
    this.counts.committed += report.applied;
    this.counts.discarded += report.discarded;
    if (report.discarded > 0) {
      this.deps.logger.warn(
        { discarded: report.discarded },
        "results of items whose lease was lost were discarded",
      );
    }
    for (const tr of report.transitions) {
      this.deps.logger.info(
        { batch_id: tr.batchId, workspace_id: tr.workspaceId, from: tr.from, to: tr.to },
        "batch status changed",
      );
    }
    // Ids and codes only: message text and model output never go to the log.
    for (const o of outcomes) {
      if (o.kind === "failed") {
        this.deps.logger.debug(
          { batch_id: o.batchId, item_id: o.itemId, attempt: o.attempt, code: o.errorCode },
          "item failed",
        );
      }
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
      const lost = await this.deps.store.items.renewLeases(
        this.owner,
        ids,
        Date.now() + this.deps.config.leaseMs,
      );
      for (const id of lost) {
        const h = this.held.get(id);
        if (!h) continue;
        // Another worker owns it now (or it was cancelled): stop spending on it.
        this.deps.logger.warn(
          { batch_id: h.item.batchId, item_id: id, custom_id: h.item.customId },
          "lease lost",
        );
        h.abort.abort();
        this.drop(id);
      }
    } catch (err) {
      this.deps.logger.error({ err }, "renewing leases failed");
    }
  }

  /** Records this worker as alive and takes its share (1 / live workers) of every upstream limit. */
  private async heartbeat(): Promise<void> {
    try {
      const now = Date.now();
      const live = await this.deps.store.workers.heartbeat(this.owner, now, now - WORKER_STALE_MS);
      this.limiters.setShare(1 / live);
    } catch (err) {
      this.deps.logger.error({ err }, "worker heartbeat failed");
    }
  }

  /**
   * A batch paused or cancelled (here or on another node) starts no more items: the items this
   * process holds of it that have not started (waiting for a rate-limit slot) are handed back,
   * so they fail with 499 (cancel) or wait for a resume (pause) at once.
   */
  private batchChanged(change: BatchChange): void {
    const halted = new Set(change.transitions.filter((t) => HALTED_STATUSES.has(t.to)).map((t) => t.batchId));
    if (halted.size === 0) return;
    const unstarted = [...this.held.values()].filter((h) => !h.started && halted.has(h.item.batchId));
    if (unstarted.length === 0) return;
    for (const h of unstarted) {
      h.abort.abort();
      this.drop(h.item.id);
    }
    const items = unstarted.map((h) => ({ itemId: h.item.id, attempt: h.item.attempt }));
    this.deps.store.items.release(this.owner, items).then(
      (transitions) => {
        this.deps.signals.notifyBatchChanged({ batchIds: [...halted], transitions });
        this.poke();
      },
      (err) => this.deps.logger.error({ err }, "handing back items of a halted batch failed"),
    );
  }

  private maintaining = false;

  private async maintain(): Promise<void> {
    if (this.maintaining) return;
    this.maintaining = true;
    try {
      await this.deps.store.workers.runAsLeader("maintenance", () => this.maintainAsLeader());
    } catch (err) {
      this.deps.logger.error({ err }, "maintenance failed");
    } finally {
      this.maintaining = false;
    }
  }

  /** Returns expired leases and expires batches; one process at a time runs it. */
  private async maintainAsLeader(): Promise<void> {
    const now = Date.now();
    const reaped = await this.deps.store.items.reapExpired(now, this.deps.config.maxAttempts);
    const expired = await this.deps.store.batches.expire(now);
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
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
