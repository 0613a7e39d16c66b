import type { CallSignal, ModelOutcome, UpstreamLimits } from "./types.js";
import { capUpstreamWaitMs } from "./upstream-wait.js";

/** A granted call slot; `release` settles the tokens actually used and feeds back the outcome. */
export interface Permit {
  release(outcome: ModelOutcome | null, actualTokens?: number): void;
  /**
   * The call's 2xx answer is in (not yet read): its concurrency slot frees now, so the next
   * call may start before this one's answer is parsed and stored; `release` later settles the
   * tokens and the outcome as usual. Absent where the slot is not held here.
   */
  answered?(): void;
}

/** What a call takes its permit from: an upstream's limiter, here or in another thread. */
export interface Limiter {
  acquire(tokens: number, signal: CallSignal): Promise<Permit>;
  /** The permit when one is free now and nobody waits (what `acquire` would grant at once), else null. */
  tryAcquire?(tokens: number): Permit | null;
}

/** The limiters of every upstream, one per provider, shared by batch items and chat turns. */
export interface Limiters {
  get(provider: string): Limiter;
  close(): void;
}

interface Waiter {
  tokens: number;
  resolve: (permit: Permit) => void;
  reject: (err: Error) => void;
  signal: CallSignal;
  onAbort: () => void;
}

/** A token bucket that refills continuously; `capacity` per minute. */
class MinuteBucket {
  private level: number;
  private updatedAt: number;

  /** `full`: the whole allowance may burst at once; else it starts empty and refills. */
  constructor(
    public capacity: number,
    full: boolean,
  ) {
    this.level = full ? capacity : 0;
    this.updatedAt = Date.now();
  }

  private refill(now: number): void {
    this.level = Math.min(this.capacity, this.level + ((now - this.updatedAt) * this.capacity) / 60_000);
    this.updatedAt = now;
  }

  /** Milliseconds until `amount` can be taken (0: now). Amounts above capacity wait for a full bucket. */
  waitFor(amount: number, now: number): number {
    this.refill(now);
    const need = Math.min(amount, this.capacity);
    if (this.level >= need) return 0;
    return Math.ceil(((need - this.level) * 60_000) / this.capacity);
  }

  take(amount: number): void {
    this.level -= amount;
  }

  /** Gives back (or charges more) after the real usage is known. */
  adjust(delta: number): void {
    this.level = Math.min(this.capacity, this.level + delta);
  }

  drain(): void {
    this.level = Math.min(this.level, 0);
  }

  /**
   * Changes the per-minute allowance (this process's share of a shared limit). A smaller one
   * cuts the level at once; a larger one only refills faster: the level never jumps up, since
   * the allowance another worker gave up may already be spent.
   */
  resize(capacity: number): void {
    this.refill(Date.now());
    this.capacity = capacity;
    this.level = Math.min(this.level, capacity);
  }

  /** The whole allowance at once (a worker alone on the database, before its first call). */
  fill(): void {
    this.updatedAt = Date.now();
    this.level = this.capacity;
  }
}

/**
 * Limits for one upstream (provider + model + key): requests per minute and tokens per minute
 * as token buckets taken all-or-nothing before a call, and a concurrency cap that halves on a
 * 429 and grows back by one per window of successes (AIMD). A 429's Retry-After or rate-limit
 * headers saying a window is spent hold every call to this upstream until the reset, rather
 * than letting each item discover the limit on its own.
 */
export class UpstreamLimiter implements Limiter {
  private readonly rpm?: MinuteBucket;
  private readonly tpm?: MinuteBucket;
  private maxConcurrency: number;
  private concurrencyLimit: number;
  /** Share 0 of a configured limit: no call starts until a share is given. */
  private held: boolean;
  private inFlight = 0;
  private blockedUntil = 0;
  private readonly queue: Waiter[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** Counts of 429s seen, for metrics. */
  rateLimitedCount = 0;

  /** `full`: the buckets start with the whole (share of the) allowance; else empty. */
  constructor(
    private readonly limits: UpstreamLimits,
    fallbackConcurrency: number,
    share = 1,
    full = true,
  ) {
    if (limits.rpm) this.rpm = new MinuteBucket(shareOf(limits.rpm, share), full);
    if (limits.tpm) this.tpm = new MinuteBucket(shareOf(limits.tpm, share), full);
    this.maxConcurrency = limits.maxConcurrency ? shareOf(limits.maxConcurrency, share) : fallbackConcurrency;
    this.concurrencyLimit = this.maxConcurrency;
    this.held = share === 0 && this.limited;
  }

  /** Some limit is configured, to be split among the workers. */
  get limited(): boolean {
    return Boolean(this.limits.rpm || this.limits.tpm || this.limits.maxConcurrency);
  }

  /**
   * Sets this process's share [0..1] of the upstream's configured limits, which hold for all
   * workers together: with n live workers each takes 1/n; 0 holds every call to a limited
   * upstream. The per-process concurrency fallback (no configured max_concurrency) is not split.
   * `fill`: the request and token buckets then hold the whole new allowance (see
   * `LimiterRegistry.setShare`).
   */
  setShare(share: number, fill = false): void {
    this.held = share === 0 && this.limited;
    if (this.limits.rpm) this.rpm?.resize(shareOf(this.limits.rpm, share));
    if (this.limits.tpm) this.tpm?.resize(shareOf(this.limits.tpm, share));
    if (fill) {
      this.rpm?.fill();
      this.tpm?.fill();
    }
    if (this.limits.maxConcurrency) {
      const max = shareOf(this.limits.maxConcurrency, share);
      // A limit not lowered by 429s follows the share up; a lowered one keeps growing back (AIMD).
      this.concurrencyLimit =
        this.concurrencyLimit >= this.maxConcurrency ? max : Math.min(max, this.concurrencyLimit);
      this.maxConcurrency = max;
    }
    this.pump();
  }

  get waiting(): number {
    return this.queue.length;
  }

  get running(): number {
    return this.inFlight;
  }

  get currentConcurrencyLimit(): number {
    return Math.floor(this.concurrencyLimit);
  }

  tryAcquire(tokens: number): Permit | null {
    return this.grantNow(tokens);
  }

  acquire(tokens: number, signal: CallSignal): Promise<Permit> {
    const now = this.grantNow(tokens);
    if (now) return Promise.resolve(now);
    // Already aborted: its abort listener would never fire, and the waiter would hold the queue.
    if (signal.aborted) return Promise.reject(new Error("aborted while waiting for a rate-limit slot"));
    return new Promise<Permit>((resolve, reject) => {
      const waiter: Waiter = {
        tokens,
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.queue.indexOf(waiter);
          if (i >= 0) this.queue.splice(i, 1);
          reject(new Error("aborted while waiting for a rate-limit slot"));
        },
      };
      signal.addEventListener("abort", waiter.onAbort, { once: true });
      this.queue.push(waiter);
      this.pump();
    });
  }

  /** A permit when nobody waits and a call of `tokens` may start now, else null. */
  private grantNow(tokens: number): Permit | null {
    return this.queue.length === 0 && this.admissible(tokens, Date.now()) === 0 ? this.grant(tokens) : null;
  }

  /**
   * 0 if a call of `tokens` may start now, else how long until it might (-1: wait for a release
   * or a share).
   */
  private admissible(tokens: number, now: number): number {
    if (this.held) return -1;
    if (this.blockedUntil > now) return this.blockedUntil - now;
    if (this.inFlight >= Math.max(1, Math.floor(this.concurrencyLimit))) return -1;
    const r = this.rpm?.waitFor(1, now) ?? 0;
    const t = this.tpm?.waitFor(tokens, now) ?? 0;
    return Math.max(r, t);
  }

  private grant(tokens: number): Permit {
    this.inFlight++;
    this.rpm?.take(1);
    this.tpm?.take(tokens);
    let released = false;
    let slotFreed = false;
    return {
      answered: () => {
        if (released || slotFreed) return;
        slotFreed = true;
        this.inFlight--;
        this.pump();
      },
      release: (outcome, actualTokens) => {
        if (released) return;
        released = true;
        if (!slotFreed) this.inFlight--;
        if (actualTokens !== undefined) this.tpm?.adjust(tokens - actualTokens);
        if (outcome) this.learn(outcome);
        this.pump();
      },
    };
  }

  private learn(outcome: ModelOutcome): void {
    const now = Date.now();
    if (outcome.kind === "retryable" && outcome.rateLimited) {
      this.rateLimitedCount++;
      this.concurrencyLimit = Math.max(1, this.concurrencyLimit / 2);
      this.blockedUntil = Math.max(this.blockedUntil, now + capUpstreamWaitMs(outcome.retryAfterMs ?? 1000));
      this.rpm?.drain();
    } else if (outcome.kind === "success" && this.concurrencyLimit < this.maxConcurrency) {
      this.concurrencyLimit = Math.min(
        this.maxConcurrency,
        this.concurrencyLimit + 1 / this.concurrencyLimit,
      );
    }
    const hint = outcome.kind === "failed" ? undefined : outcome.rateLimit;
    if (hint?.remainingRequests === 0 && hint.resetRequestsMs) {
      this.blockedUntil = Math.max(this.blockedUntil, now + capUpstreamWaitMs(hint.resetRequestsMs));
    }
    if (hint?.remainingTokens === 0 && hint.resetTokensMs) {
      this.blockedUntil = Math.max(this.blockedUntil, now + capUpstreamWaitMs(hint.resetTokensMs));
    }
  }

  private pump(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.queue.length > 0) {
      const head = this.queue[0];
      const wait = this.admissible(head.tokens, Date.now());
      if (wait === -1) return; // a release will pump again
      if (wait > 0) {
        this.timer = setTimeout(() => this.pump(), wait);
        this.timer.unref?.();
        return;
      }
      this.queue.shift();
      head.signal.removeEventListener("abort", head.onAbort);
      head.resolve(this.grant(head.tokens));
    }
  }

  /** Rejects every waiter (shutdown). */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const w of this.queue.splice(0)) w.reject(new Error("limiter closed"));
  }
}

/**
 * One limiter per configured provider (an upstream: base URL + key), created on first use with
 * its configured limits. Limits are per provider entry because that is what the config names;
 * a team that wants separate limits per model declares one provider entry per model.
 */
export class LimiterRegistry implements Limiters {
  private readonly limiters = new Map<string, UpstreamLimiter>();
  private share = 1;
  /** New limiters start with full buckets (false once held: see `hold`). */
  private full = true;

  constructor(
    private readonly limitsFor: (provider: string) => UpstreamLimits,
    private readonly fallbackConcurrency: number,
  ) {}

  get(provider: string): UpstreamLimiter {
    let limiter = this.limiters.get(provider);
    if (!limiter) {
      limiter = new UpstreamLimiter(
        this.limitsFor(provider),
        this.fallbackConcurrency,
        this.share,
        this.full,
      );
      this.limiters.set(provider, limiter);
    }
    return limiter;
  }

  /**
   * Share 0 of every limit, for a worker joining others on a shared database until they have
   * made room for it: no call to a limited upstream starts, and from now on buckets start empty
   * and fill at the share's rate, because what the others gave up for this worker may already
   * be spent (their buckets are cut to their new share, not emptied).
   */
  hold(): void {
    this.full = false;
    this.setShare(0);
  }

  /**
   * This process's share of every upstream's limits (1 / live workers). `fill`: the buckets
   * start full, for a worker that found no other on the database and has made no call yet.
   */
  setShare(share: number, opts: { fill?: boolean } = {}): void {
    if (opts.fill) this.full = true;
    if (share === this.share && !opts.fill) return;
    this.share = share;
    for (const l of this.limiters.values()) l.setShare(share, opts.fill);
  }

  entries(): [string, UpstreamLimiter][] {
    return [...this.limiters.entries()];
  }

  close(): void {
    for (const l of this.limiters.values()) l.close();
  }
}

/** A share of a limit, never below 1 (a worker must be able to make some progress) unless held. */
function shareOf(limit: number, share: number): number {
  return share === 0 ? 0 : Math.max(1, Math.floor(limit * share));
}
