import type { Logger } from "pino";
import type { EngineConfig } from "../config/index.js";
import type { CommitReport, ItemOutcome } from "../store/types.js";
import type { EngineStore } from "./engine-store.js";
import { commitGroupOf } from "./group-sizes.js";
import type { HeldItem, HeldItems } from "./held-items.js";
import type { ItemResult } from "./outcomes.js";
import type { Signals } from "./signals.js";
import { engineTrace } from "./trace.js";

export interface CompleterDeps {
  store: Pick<EngineStore, "items">;
  held: HeldItems;
  owner: string;
  config: Pick<EngineConfig, "concurrency" | "commitBatchSize" | "commitIntervalMs">;
  signals: Signals;
  logger: Logger;
  /** An item's concurrency slot freed (its outcome is buffered). */
  onSlotFreed: () => void;
  /** A group was written (or failed to be): its items are no longer held. */
  onCommitted: () => void;
}

/** Most queued groups one write takes together when it is behind. */
const MERGE_GROUPS = 4;

/** Resolves on the next event-loop turn (after the I/O and timers waiting now). */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Group commit of item outcomes (River's batch completer): outcomes are buffered and written in
 * one transaction every `commitBatchSize` outcomes (more at thousands of slots: `commitGroupOf`)
 * or `commitIntervalMs`, whichever comes first,
 * fenced by lease owner and attempt. One transaction per item would cap throughput at the disk's
 * fsync rate. An item's slot frees when its outcome is buffered, not at the write.
 *
 * Groups are written one write per event-loop turn, in the order their outcomes came: with
 * 10,000 calls in flight a burst of answers fills several groups at once, and writing them all
 * in one synchronous run (SQLite's calls are synchronous) held the loop and every HTTP request.
 * A write that finds several groups waiting takes up to `MERGE_GROUPS` of them in one
 * transaction, so that the writes keep up with the answers.
 */
export class Completer {
  private buffer: ItemOutcome[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** Groups waiting to be written, oldest first. */
  private readonly queue: ItemOutcome[][] = [];
  /** Groups queued and groups written (or failed) since start: `flush()` waits for its group. */
  private queued = 0;
  private written = 0;
  private readonly waiters: { group: number; resolve: () => void }[] = [];
  private writing = false;
  /** Outcomes stored, and outcomes fenced off (their lease was lost), since start. */
  readonly counts = { committed: 0, discarded: 0 };

  /** Outcomes per group: `commitBatchSize` as configured; unset, more at thousands of slots (`commitGroupOf`). */
  private readonly groupSize: number;

  constructor(private readonly deps: CompleterDeps) {
    this.groupSize = Math.max(1, commitGroupOf(deps.config));
  }

  /** Outcomes not yet stored (buffered, or in a group waiting for its turn). */
  get buffered(): number {
    let n = this.buffer.length;
    for (const g of this.queue) n += g.length;
    return n;
  }

  /**
   * Buffers a held item's outcome for the next group commit and frees its slot. `result` becomes
   * the outcome: the fencing fields are set on it, not on a copy (a spread of every result was
   * the engine's largest allocation per item), so each call passes a fresh object.
   */
  finish(held: HeldItem, result: ItemResult): void {
    const { item } = held;
    if (this.deps.held.markDone(held)) this.deps.onSlotFreed();
    const outcome = result as ItemOutcome;
    outcome.itemId = item.id;
    outcome.batchId = item.batchId;
    outcome.leaseOwner = this.deps.owner;
    outcome.attempt = item.attempt;
    this.buffer.push(outcome);
    // A full group, or the last item this process holds: no other outcome is on its way to
    // share the write with, so waiting out the interval would only delay the batch's end.
    if (this.buffer.length >= this.groupSize || this.deps.held.unsettled === 0) {
      void this.flush();
    } else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.deps.config.commitIntervalMs);
    }
  }

  /** Writes what is buffered; resolves once it (and any earlier flush) is stored. */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const size = this.groupSize;
    for (let i = 0; i < this.buffer.length; i += size) {
      this.queue.push(this.buffer.slice(i, i + size));
      this.queued++;
    }
    this.buffer = [];
    const group = this.queued;
    if (this.written >= group) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.waiters.push({ group, resolve }));
    if (!this.writing) void this.writeQueued();
    return done;
  }

  /** Writes the queued groups in order, each on an event-loop turn of its own. */
  private async writeQueued(): Promise<void> {
    this.writing = true;
    try {
      for (;;) {
        await nextTurn();
        const outcomes = this.queue.shift();
        if (!outcomes) return;
        // Behind (answers came faster than a group per turn): the groups waiting are written
        // together, up to MERGE_GROUPS of them: one COMMIT for several, so the writes catch up.
        let groups = 1;
        while (groups < MERGE_GROUPS && this.queue.length > 0) {
          outcomes.push(...(this.queue.shift() as ItemOutcome[]));
          groups++;
        }
        try {
          await this.write(outcomes);
        } catch (err) {
          // write() logs a failed store call itself; this is a throw after it (a signal's listener).
          this.deps.logger.error({ err }, "after storing results");
        }
        this.written += groups;
        while (this.waiters.length > 0 && this.waiters[0].group <= this.written)
          this.waiters.shift()?.resolve();
      }
    } finally {
      this.writing = false;
    }
  }

  private async write(outcomes: ItemOutcome[]): Promise<void> {
    let report: CommitReport;
    const t0 = engineTrace?.now();
    try {
      report = await this.deps.store.items.commit(outcomes, Date.now());
      if (engineTrace) engineTrace.event("commit", t0 as number, outcomes.length);
    } catch (err) {
      // The items keep their leases in the store: the reaper returns them once those run out.
      this.deps.logger.error({ err }, "storing results failed; the items will be retried after their lease");
      this.forget(outcomes);
      this.deps.onCommitted();
      return;
    }
    this.committed(outcomes, report);
  }

  /** Stops holding the items of written outcomes (a later claim of the same item is kept). */
  private forget(outcomes: ItemOutcome[]): void {
    for (const o of outcomes) this.deps.held.drop(o.itemId, o.attempt);
  }

  private committed(outcomes: ItemOutcome[], report: CommitReport): void {
    const { logger, signals } = this.deps;
    this.forget(outcomes);
    this.counts.committed += report.applied;
    this.counts.discarded += report.discarded;
    if (report.discarded > 0) {
      logger.warn({ discarded: report.discarded }, "results of items whose lease was lost were discarded");
    }
    for (const tr of report.transitions) {
      logger.info(
        { batch_id: tr.batchId, workspace_id: tr.workspaceId, from: tr.from, to: tr.to },
        "batch status changed",
      );
    }
    // Ids and codes only: message text and model output never go to the log.
    for (const o of outcomes) {
      if (o.kind !== "failed") continue;
      logger.debug(
        { batch_id: o.batchId, item_id: o.itemId, attempt: o.attempt, code: o.errorCode },
        "item failed",
      );
    }
    signals.notifyBatchChanged({ batchIds: report.touchedBatchIds, transitions: report.transitions });
    if (outcomes.some((o) => o.kind === "retry")) signals.notifyWork();
    this.deps.onCommitted();
  }
}
