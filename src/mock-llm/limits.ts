const WINDOW_MS = 60_000;

/**
 * Requests or tokens per minute as a bucket that refills continuously, the way OpenAI describes
 * its limits: a full minute's allowance may burst, then it comes back at the limit's rate.
 */
class MinuteBucket {
  private level: number;
  private updatedAt: number;
  private readonly perMs: number;

  constructor(readonly capacity: number) {
    this.level = capacity;
    this.updatedAt = Date.now();
    this.perMs = capacity / WINDOW_MS;
  }

  refill(now: number): void {
    this.level = Math.min(this.capacity, this.level + (now - this.updatedAt) * this.perMs);
    this.updatedAt = now;
  }

  /** 0 when `amount` is available now, else how long until it is. */
  waitMs(amount: number): number {
    return amount <= this.level ? 0 : (amount - this.level) / this.perMs;
  }

  take(amount: number): void {
    this.level -= amount;
  }

  state(): LimitState {
    return {
      limit: this.capacity,
      remaining: Math.max(0, Math.floor(this.level)),
      resetMs: (this.capacity - this.level) / this.perMs,
    };
  }
}

export interface LimitState {
  limit: number;
  remaining: number;
  /** Milliseconds until the bucket is full again. */
  resetMs: number;
}

/** Why a request was refused, and how long until it would be admitted. */
export interface Refusal {
  waitMs: number;
  limit: "requests" | "tokens";
}

/** The mock's RPM and TPM limits, shared by its OpenAI and Anthropic routes. */
export class MockLimits {
  private readonly requests: MinuteBucket | undefined;
  private readonly tokens: MinuteBucket | undefined;

  constructor(rpm: number | undefined, tpm: number | undefined) {
    this.requests = rpm ? new MinuteBucket(rpm) : undefined;
    this.tokens = tpm ? new MinuteBucket(tpm) : undefined;
  }

  /**
   * Takes one request and its tokens, or says how long until they are available. All or
   * nothing: a request refused for tokens does not spend a request.
   */
  admit(tokens: number): Refusal | undefined {
    const now = Date.now();
    this.requests?.refill(now);
    this.tokens?.refill(now);
    const requestWait = this.requests?.waitMs(1) ?? 0;
    if (requestWait > 0) return { waitMs: requestWait, limit: "requests" };
    const tokenWait = this.tokens?.waitMs(tokens) ?? 0;
    if (tokenWait > 0) return { waitMs: tokenWait, limit: "tokens" };
    this.requests?.take(1);
    this.tokens?.take(tokens);
    return undefined;
  }

  /** Each configured limit's state now. */
  state(): { requests?: LimitState; tokens?: LimitState } {
    return { requests: this.requests?.state(), tokens: this.tokens?.state() };
  }

  /** OpenAI's `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` headers. */
  openAIHeaders(): Record<string, string> {
    const headers: Record<string, string> = {};
    for (const [name, state] of Object.entries(this.state())) {
      if (!state) continue;
      headers[`x-ratelimit-limit-${name}`] = String(state.limit);
      headers[`x-ratelimit-remaining-${name}`] = String(state.remaining);
      headers[`x-ratelimit-reset-${name}`] = formatDuration(state.resetMs);
    }
    return headers;
  }

  /** Anthropic's `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}` headers (RFC 3339 resets). */
  anthropicHeaders(): Record<string, string> {
    const headers: Record<string, string> = {};
    const now = Date.now();
    for (const [name, state] of Object.entries(this.state())) {
      if (!state) continue;
      headers[`anthropic-ratelimit-${name}-limit`] = String(state.limit);
      headers[`anthropic-ratelimit-${name}-remaining`] = String(state.remaining);
      headers[`anthropic-ratelimit-${name}-reset`] = new Date(now + state.resetMs).toISOString();
    }
    return headers;
  }
}

/** OpenAI's reset format: "20ms", "1.5s", "6m0s", "1h2m3s". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  let rest = Math.ceil(ms) / 1000;
  const hours = Math.floor(rest / 3600);
  rest -= hours * 3600;
  const minutes = Math.floor(rest / 60);
  const seconds = Number((rest - minutes * 60).toFixed(3));
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}
