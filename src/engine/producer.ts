import type { Logger } from "pino";
import type { EngineConfig } from "../config/index.js";
import { preemptions, type WorkspaceShare, workspaceCap } from "../domain/fair-share.js";
import type { ClaimedItem, ClaimSeen } from "../store/types.js";
import type { EngineStore } from "./engine-store.js";
import { claimGroupOf } from "./group-sizes.js";
import type { HeldItems } from "./held-items.js";
import { BackgroundLoop } from "./loop.js";
import type { Signals } from "./signals.js";
import { engineTrace } from "./trace.js";

export interface ProducerDeps {
  store: Pick<EngineStore, "items">;
  /** Takes `count` slots back from a workspace over its cap (another workspace waits). */
  preempt: (workspaceId: string, count: number) => void;
  held: HeldItems;
  owner: string;
  config: Pick<
    EngineConfig,
    "concurrency" | "claimAhead" | "claimBatchSize" | "leaseMs" | "pollIntervalMs" | "workspaceShare"
  >;
  signals: Signals;
  logger: Logger;
  /** Resolves once the first claim may be made (this process knows its share of the limits). */
  ready: () => Promise<void>;
  /** Holds a freshly claimed item: it runs in a free slot, or waits in the buffer for one. */
  begin: (item: ClaimedItem) => void;
}

/** The default buffer's floor: as many items as the slots, at most this many. */
export const MAX_DEFAULT_CLAIM_AHEAD = 512;
/**
 * The largest buffer the completion rate may grow the default to (with two claim groups
 * below it, see {@link claimAheadOf}).
 */
export const MAX_GROWN_CLAIM_AHEAD = 1024;
/**
 * How many milliseconds of completions the default buffer covers at the measured rate: a
 * claim's round trip under load, with the refill at half the buffer.
 */
export const CLAIM_AHEAD_HORIZON_MS = 25;
/** Time constant of the completion rate's moving average (ms). */
export const COMPLETION_RATE_TAU_MS = 250;

/**
 * Items claimed beyond the concurrency slots (the buffer): `claimAhead` as configured; unset,
 * the completions of {@link CLAIM_AHEAD_HORIZON_MS} at `ratePerS` (the measured completion
 * rate), at least the slots (at most {@link MAX_DEFAULT_CLAIM_AHEAD}) and at most two claim
 * groups (at most {@link MAX_GROWN_CLAIM_AHEAD}). The buffer is refilled once below half, so
 * the claim's round trip is covered for half a call's latency (25 ms at 50 ms calls); with half
 * the slots (12.5 ms) PostgreSQL claims under load came too late and slots stood empty
 * (bench/README.md, "Peers"). Calls of 25 ms or more never take the buffer above the slots
 * (64 slots at 50 ms: 1,280 items/s, 32 items in 25 ms); a fast upstream (the zero-latency
 * mock, an in-process model) grows it, so that fewer, larger claims cover the same time
 * (bench/README.md, "Issue 17.5, claim ahead at the completion rate"). The price of a buffer: a buffered
 * item waits up to (buffer/slots) calls, counted as processing, and another worker cannot take
 * it. None below 4 slots: there a buffered item could wait a whole call of few slots, where a
 * cancel or the completion window would have failed it as pending.
 */
export function claimAheadOf(
  config: Pick<EngineConfig, "concurrency" | "claimAhead" | "claimBatchSize">,
  ratePerS = 0,
): number {
  if (config.claimAhead !== undefined) return config.claimAhead;
  if (config.concurrency < 4) return 0;
  const floor = Math.min(config.concurrency, MAX_DEFAULT_CLAIM_AHEAD);
  const cap = Math.max(floor, Math.min(2 * claimGroupOf(config), MAX_GROWN_CLAIM_AHEAD));
  return Math.min(cap, Math.max(floor, Math.ceil((ratePerS * CLAIM_AHEAD_HORIZON_MS) / 1000)));
}

/**
 * Items finished per second, a moving average over about {@link COMPLETION_RATE_TAU_MS}:
 * each sample weighs by the time it covers, so frequent samples cost no accuracy.
 */
export class CompletionRate {
  private total = 0;
  private at: number | undefined;
  /** The average rate at the last sample (items/s). */
  perS = 0;

  /** Folds the items finished since the last sample (`total`: finished since start) into the average; returns it. */
  sample(now: number, total: number): number {
    const dt = this.at === undefined ? 0 : now - this.at;
    if (this.at !== undefined && dt <= 0) return this.perS;
    if (this.at !== undefined) {
      const weight = 1 - Math.exp(-dt / COMPLETION_RATE_TAU_MS);
      this.perS += weight * (((total - this.total) * 1000) / dt - this.perS);
    }
    this.total = total;
    this.at = now;
    return this.perS;
  }
}

/**
 * The claimer (River's producer): keeps the engine's concurrency slots filled, and a small
 * buffer of items claimed ahead of them, so that a finished item's slot is refilled at once
 * from the buffer rather than after a claim's round trip. It claims runnable items in groups,
 * fairly across workspaces and batches (the store's claim), a workspace holding at most
 * `workspaceShare` of the slots while another has work (its buffered items count: they take the
 * next free slots without another check). With slots and buffer full and a workspace under its
 * cap waiting, it takes back the excess of the workspaces over their cap (a lone workspace may
 * have taken every slot). It claims again at once while full groups come back and there is room,
 * and otherwise sleeps until it is poked (work arrived, the buffer fell below half) or the poll
 * interval passes.
 */
export class Producer {
  private readonly loop: BackgroundLoop;
  private primed = false;
  /** Slots plus buffer: the most unfinished items this process holds (the buffer follows the completion rate). */
  private capacity = 0;
  /** How many of `capacity` must be free before a finished item wakes the claimer. */
  private refillAt = 1;
  /** Items finished per second, which sizes the default buffer. */
  private readonly rate = new CompletionRate();
  /** Most items one claim takes (`claimGroupOf`). */
  private readonly claimGroup: number;
  /** Items claimed since start. */
  claimed = 0;
  /**
   * The last claim found nothing (or none has run yet): the engine was waiting for new work, and
   * its next claim is the one the first calls wait for.
   */
  private waiting = true;
  /**
   * Until when (`Date.now()` ms) the preemption check may be skipped: the last one found no
   * workspace under its cap waiting, and no work has arrived since (`workArrived`). Without it,
   * every wake-up with the slots full read the runnable workspaces again: 156 statements per
   * 5,000 items of one workspace on PostgreSQL at 50 ms, each a round trip, all finding nothing
   * (bench/README.md, "Issue 17 on a medium machine"). The bound (`pollIntervalMs`) covers what
   * no signal of this process tells.
   */
  private noneStarvingUntil = 0;
  /**
   * Until when (`Date.now()` ms) claims are skipped: the last one saw no batch with items to run
   * (`ClaimSeen.runnable`), and no work has arrived since. Without it, every slot freed after the
   * last items were claimed woke a claim that read the candidate batches again and found none
   * (on PostgreSQL at 50 ms, 155–184 candidate reads per 5,000 items for 132–136 claims, 138–141
   * with the hold; each a round trip; bench/README.md, "Issue 17.1, a group commit in one
   * statement"). Work arrives with a signal (`workArrived`: a
   * batch created or resumed, an item retried or recovered, from this process or another); the
   * bound (`pollIntervalMs`) covers what none tells (a retry's `not_before` passing is not one,
   * but its batch has an item pending, so its claims never hold). Not after a claim that saw
   * runnable items and took none (a workspace at its cap, another worker first): a freed slot
   * may let it take them.
   */
  private nothingRunnableUntil = 0;
  /** Work signals seen: a check whose read began before one cannot vouch for after it. */
  private workSeen = 0;
  /**
   * `workSeen` when the last claim began (-1: none has): the same at the next one, no work has
   * arrived in between, and the store may take the candidate batches that claim read
   * (`ClaimSeen.sameWork`).
   */
  private workSeenAtClaim = -1;

  constructor(private readonly deps: ProducerDeps) {
    this.resize(claimAheadOf(deps.config));
    this.claimGroup = claimGroupOf(deps.config);
    this.loop = new BackgroundLoop({
      iteration: () => this.claimOnce(),
      intervalMs: deps.config.pollIntervalMs,
      onError: (err) => deps.logger.error({ err }, "claiming items failed"),
    });
  }

  start(): void {
    this.loop.start();
  }

  /** Stops claiming; resolves once a claim in progress has returned (its items are held). */
  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** Claims soon: new work, or capacity freed. */
  poke(): void {
    this.loop.poke();
  }

  /** Runnable work appeared (a batch created or resumed, items back to pending): claims soon, and the next preemption check reads again. */
  workArrived(): void {
    this.workSeen++;
    this.noneStarvingUntil = 0;
    this.nothingRunnableUntil = 0;
    this.loop.poke();
  }

  /** An item finished: wakes the claimer once the buffer is below half, not for every item. */
  slotFreed(): void {
    if (this.capacity - this.deps.held.busy >= this.refillAt) this.poke();
  }

  /** Sizes the buffer: `ahead` items beyond the slots. */
  private resize(ahead: number): void {
    const { concurrency } = this.deps.config;
    this.capacity = concurrency + ahead;
    // With a buffer: once it is below half. Without one: once a quarter of the slots is free.
    this.refillAt = ahead > 0 ? Math.floor(ahead / 2) + 1 : Math.max(1, Math.floor(concurrency / 4));
  }

  /** One claim; resolves to how long to sleep before the next (0: claim again at once). */
  private async claimOnce(): Promise<number | undefined> {
    const { store, held, owner, config } = this.deps;
    if (!this.primed) {
      await this.deps.ready();
      this.primed = true;
    }
    if (config.claimAhead === undefined)
      this.resize(claimAheadOf(config, this.rate.sample(Date.now(), held.freed)));
    const share: WorkspaceShare = {
      cap: workspaceCap(config.concurrency, config.workspaceShare),
      busy: held.busyByWorkspace(),
    };
    const room = this.capacity - held.busy;
    // Slots all taken and the buffer at least half full: not worth a claim yet.
    if (room <= 0 || (held.running >= config.concurrency && room < this.refillAt)) {
      await this.preemptForWaiting(share);
      return undefined;
    }
    const now = Date.now();
    if (now < this.nothingRunnableUntil) return undefined;
    // Work arrived at an engine that was waiting for it (the last claim found nothing, and
    // nothing is running or buffered): the claim takes only what fills the slots, so the first
    // calls leave after the smaller claim; the buffer's claim follows at once (a full group with
    // room left claims again). Not when the slots merely ran empty between claims that found
    // work (an instant model does at every group): there the full group saves claims.
    const waited = this.waiting && held.busy === 0;
    const want = Math.min(waited ? config.concurrency : room, room, this.claimGroup);
    const t0 = engineTrace?.now();
    const workSeen = this.workSeen;
    const seen: ClaimSeen = { runnable: true, sameWork: workSeen === this.workSeenAtClaim };
    this.workSeenAtClaim = workSeen;
    const items = await store.items.claim(owner, want, config.leaseMs, now, share, seen);
    if (!seen.runnable && workSeen === this.workSeen) this.nothingRunnableUntil = now + config.pollIntervalMs;
    if (engineTrace)
      engineTrace.event("claim", t0 as number, want, items.length, held.running, held.buffered);
    this.claimed += items.length;
    this.waiting = items.length === 0;
    for (const item of items) this.deps.begin(item);
    if (items.length > 0) {
      this.deps.signals.notifyBatchChanged({
        batchIds: [...new Set(items.map((i) => i.batchId))],
        transitions: [],
        noDeliveries: true,
      });
    }
    // A full group with room left: claim again, after the loop's yield to the event loop (with an
    // instant model every step resolves as a microtask, and HTTP requests would starve).
    return items.length === want && held.busy < this.capacity ? 0 : undefined;
  }

  /** Every slot and the buffer are taken: frees the excess of workspaces over their cap if another workspace waits. */
  private async preemptForWaiting(share: WorkspaceShare): Promise<void> {
    if (![...share.busy.values()].some((n) => n > share.cap)) return;
    const now = Date.now();
    if (now < this.noneStarvingUntil) return;
    const seen = this.workSeen;
    const over = preemptions(await this.deps.store.items.runnableWorkspaces(), share);
    if (over.size === 0 && seen === this.workSeen)
      this.noneStarvingUntil = now + this.deps.config.pollIntervalMs;
    for (const [workspaceId, count] of over) this.deps.preempt(workspaceId, count);
  }
}
