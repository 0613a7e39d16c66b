import type { EngineConfig } from "../config/index.js";

/**
 * The engine's group sizes when the config leaves them unset: a claim's items and a group
 * commit's outcomes, which grow with the slots at thousands of them. A configured size is used
 * as given (the config file allows 1–10,000). Used by the producer (claims) and the completer
 * (group commits).
 */

/** Items per claim and outcomes per group commit when the config leaves them unset, below thousands of slots. */
export const DEFAULT_CLAIM_GROUP = 200;
/**
 * 200 outcomes a group, not 100: on the zero-latency mock at 64 slots the group commits were full
 * groups of 100 (200 transactions per 20,000 items), and each COMMIT and statement costs per
 * group, the item pages rewritten per transaction: 200 saved ~2 µs of CPU per item (bench/README.md,
 * "Issue 17.5, outcome path"). Below ~2,000 answers a second the interval writes first anyway.
 */
export const DEFAULT_COMMIT_GROUP = 200;
/** Concurrency slots per item of the default claim group: 10,000 slots claim 500 at a time. */
export const SLOTS_PER_CLAIMED = 20;
/** Concurrency slots per outcome of the default commit group: 10,000 slots commit 400 at a time. */
export const SLOTS_PER_COMMITTED = 25;
/** The largest group the defaults above give (a configured size may be larger). */
export const MAX_SCALED_GROUP = 1000;

/**
 * Items one claim takes: `claimBatchSize` as configured; unset, 200, or a twentieth of the slots
 * when that is more (at most {@link MAX_SCALED_GROUP}). At 10,000 slots, groups of 200 meant 50
 * claims to fill them (the ramp of `bench/inflight.mjs`) and a transaction per 200 items all
 * along; 500 filled them in a third of the time and cut the engine thread's CPU per item
 * (bench/README.md, "Issue 17.3, rate"). Below 4,000 slots the default is 200.
 */
export function claimGroupOf(config: Pick<EngineConfig, "concurrency" | "claimBatchSize">): number {
  return config.claimBatchSize ?? scaled(config.concurrency, DEFAULT_CLAIM_GROUP, SLOTS_PER_CLAIMED);
}

/**
 * Outcomes one group commit takes: `commitBatchSize` as configured; unset, 200, or a
 * twenty-fifth of the slots when that is more (at most {@link MAX_SCALED_GROUP}): fewer
 * `BEGIN IMMEDIATE`/`COMMIT`s and statements per item at thousands of answers a second. Below
 * 5,000 slots the default is 200.
 */
export function commitGroupOf(config: Pick<EngineConfig, "concurrency" | "commitBatchSize">): number {
  return config.commitBatchSize ?? scaled(config.concurrency, DEFAULT_COMMIT_GROUP, SLOTS_PER_COMMITTED);
}

/** `base`, or one per `slotsPer` slots when that is more, at most {@link MAX_SCALED_GROUP}. */
function scaled(concurrency: number, base: number, slotsPer: number): number {
  return Math.max(base, Math.min(MAX_SCALED_GROUP, Math.floor(concurrency / slotsPer)));
}
