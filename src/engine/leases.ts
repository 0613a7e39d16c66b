import type { Logger } from "pino";
import { HALTED_BATCH_STATUSES } from "../domain/statuses.js";
import type { BatchTransition } from "../store/types.js";
import type { EngineStore } from "./engine-store.js";
import type { HeldItem, HeldItems } from "./held-items.js";
import { BackgroundLoop } from "./loop.js";
import type { BatchChange, Signals } from "./signals.js";
import { engineTrace } from "./trace.js";

export interface LeaseKeeperDeps {
  store: Pick<EngineStore, "items">;
  held: HeldItems;
  owner: string;
  leaseMs: number;
  /** A cancel aborts the batch's calls in flight too (else they complete normally, as seed 000 says). */
  cancelAbortsInFlight: boolean;
  signals: Signals;
  logger: Logger;
  /** Items were handed back: slots are free to claim again. */
  onHandedBack: () => void;
}

/** Most leases renewed in one event-loop turn. */
export const RENEW_PER_TURN = 1000;

/** Resolves on the next event-loop turn (after the I/O and timers waiting now). */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Keeps the leases of the items this process holds: renews them at a third of the lease, so an
 * item outlives two failed renewals; stops (aborts) and forgets an item whose lease was lost (the
 * reaper gave it to another worker, or it was cancelled), so its result is never stored; and
 * hands back items that have not started, when their batch halts or the engine stops.
 */
export class LeaseKeeper {
  private readonly loop: BackgroundLoop;

  constructor(private readonly deps: LeaseKeeperDeps) {
    this.loop = new BackgroundLoop({
      iteration: () => this.renew(),
      intervalMs: Math.max(50, Math.floor(deps.leaseMs / 3)),
      runAtStart: false,
      onError: (err) => deps.logger.error({ err }, "renewing leases failed"),
    });
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /**
   * Renews the held items' leases in id order (the order commits lock rows in), at most
   * `RENEW_PER_TURN` per event-loop turn: 10,000 held items renewed in one synchronous run
   * (SQLite's calls are synchronous) held the loop for tens of milliseconds.
   */
  private async renew(): Promise<void> {
    const { store, held, owner, leaseMs, logger } = this.deps;
    if (held.size === 0) return;
    const ids = held.ids().sort((a, b) => a - b);
    for (let i = 0; i < ids.length; i += RENEW_PER_TURN) {
      if (i > 0) {
        await nextTurn();
        if (!this.loop.active) return;
      }
      // Items stored or handed back since the iteration began are no longer renewed (nor lost).
      const group = ids.slice(i, i + RENEW_PER_TURN).filter((id) => held.has(id));
      if (group.length === 0) continue;
      const t0 = engineTrace?.now();
      const lost = await store.items.renewLeases(owner, group, Date.now() + leaseMs);
      if (engineTrace) engineTrace.event("renew", t0 as number, group.length);
      for (const id of lost) {
        // An item whose outcome waits for (or is in) a group commit: the commit is fenced by
        // owner and attempt, and drops it either way.
        if (held.get(id)?.done !== false) continue;
        const h = held.drop(id);
        if (!h) continue;
        logger.warn({ batch_id: h.item.batchId, item_id: id, custom_id: h.item.customId }, "lease lost");
        h.abort.abort();
      }
    }
  }

  /**
   * A batch paused or cancelled (here or on another node) starts no more items: the items this
   * process holds of it that have not started (waiting for a rate-limit permit) are handed back,
   * so they fail with 499 (cancel) or wait for a resume (pause) at once. With
   * `cancelAbortsInFlight`, a cancel also aborts its calls in flight (results already stored
   * stay); by default, and on a pause, they finish.
   */
  batchChanged(change: BatchChange): void {
    const halted = new Set(
      change.transitions.filter((t) => HALTED_BATCH_STATUSES.includes(t.to)).map((t) => t.batchId),
    );
    if (halted.size === 0) return;
    const cancelled = new Set(
      change.transitions
        .filter((t) => this.deps.cancelAbortsInFlight && (t.to === "cancelling" || t.to === "cancelled"))
        .map((t) => t.batchId),
    );
    const unstarted = this.deps.held
      .values()
      // An answered item's call is over (its answer is being stored): a cancel keeps its result.
      .filter(
        (h) =>
          !h.done &&
          !h.answered &&
          halted.has(h.item.batchId) &&
          (!h.started || cancelled.has(h.item.batchId)),
      );
    if (unstarted.length === 0) return;
    for (const h of unstarted) {
      h.abort.abort();
      this.deps.held.drop(h.item.id);
    }
    this.handBack(unstarted).then(
      (transitions) => {
        this.deps.signals.notifyBatchChanged({ batchIds: [...halted], transitions });
        this.deps.onHandedBack();
      },
      (err) => this.deps.logger.error({ err }, "handing back items of a halted batch failed"),
    );
  }

  /**
   * Takes `count` slots back from a workspace over its share: its items not yet started first,
   * then the most recently started (the least work lost); their calls are aborted and they go
   * back to pending without spending an attempt.
   */
  preempt(workspaceId: string, count: number): void {
    const victims = this.deps.held
      .values()
      // An answered item's call is over (its answer is being stored): nothing to take back.
      .filter((h) => h.item.workspaceId === workspaceId && !h.done && !h.answered)
      .sort((a, b) => Number(a.started) - Number(b.started) || b.claimedAt - a.claimedAt)
      .slice(0, count);
    if (victims.length === 0) return;
    for (const h of victims) {
      h.abort.abort();
      this.deps.held.drop(h.item.id);
    }
    this.deps.logger.info(
      { workspace_id: workspaceId, items: victims.length },
      "workspace over its share: items handed back",
    );
    this.handBack(victims).then(
      () => this.deps.onHandedBack(),
      (err) => this.deps.logger.error({ err }, "handing back items over a workspace's share failed"),
    );
  }

  /** Stops and hands back at once every held item whose call has not started (the engine stops). */
  async handBackUnstarted(): Promise<void> {
    const unstarted = this.deps.held.values().filter((h) => !h.started && !h.done);
    for (const h of unstarted) {
      h.abort.abort();
      this.deps.held.drop(h.item.id);
    }
    if (unstarted.length > 0) await this.handBack(unstarted);
  }

  /** Hands every item still held back to pending (the engine stops; their outcomes are stored). */
  async releaseAll(): Promise<void> {
    const left = this.deps.held.values();
    if (left.length === 0) return;
    for (const h of left) this.deps.held.drop(h.item.id);
    await this.handBack(left);
  }

  private handBack(items: HeldItem[]): Promise<BatchTransition[]> {
    const { store, owner } = this.deps;
    return store.items.release(
      owner,
      items.map((h) => ({ itemId: h.item.id, attempt: h.item.attempt })),
    );
  }
}
