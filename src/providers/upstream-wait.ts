/**
 * The longest an upstream may make agentbatch wait: a Retry-After or rate-limit reset beyond it
 * (a misconfigured proxy's `Retry-After: 99999999`, a reset date years away) is read as this.
 * Above 2^31-1 ms Node's setTimeout fires at once, so an unbounded value would turn a wait into
 * a busy loop; ten minutes also keeps a batch from stalling for hours on one header.
 */
export const MAX_UPSTREAM_WAIT_MS = 10 * 60_000;

/** `ms` within [0, MAX_UPSTREAM_WAIT_MS] (Infinity and NaN included). */
export function capUpstreamWaitMs(ms: number): number {
  if (Number.isNaN(ms) || ms <= 0) return 0;
  return Math.min(ms, MAX_UPSTREAM_WAIT_MS);
}
