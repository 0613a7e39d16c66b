import type { Limiter, Limiters, Permit } from "../providers/rate-limiter.js";
import type { CallSignal, ModelOutcome } from "../providers/types.js";
import type { FromEngine, ReleasedOutcome, ToEngine } from "./messages.js";

/** The part of an outcome an upstream's limiter learns from; the rest stays in this thread. */
export function releasedOutcome(outcome: ModelOutcome | null): ReleasedOutcome | null {
  if (!outcome) return null;
  if (outcome.kind === "retryable")
    return {
      kind: "retryable",
      rateLimited: outcome.rateLimited,
      retryAfterMs: outcome.retryAfterMs,
      rateLimit: outcome.rateLimit,
    };
  return outcome.kind === "success" ? { kind: "success", rateLimit: outcome.rateLimit } : { kind: "failed" };
}

interface Waiting {
  resolve: (permit: Permit) => void;
  reject: (err: Error) => void;
  done: () => void;
}

/**
 * The API thread's limiters when the engine runs in a thread of its own: every chat turn takes
 * its permit from the engine thread's limiter of that upstream (one message each way), so batch
 * items and chat turns share one budget per upstream as they do in one thread.
 */
export class ThreadLimiters implements Limiters {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  private closed = false;

  constructor(private readonly post: (message: ToEngine) => void) {}

  get(provider: string): Limiter {
    return { acquire: (tokens, signal) => this.acquire(provider, tokens, signal) };
  }

  private acquire(provider: string, tokens: number, signal: CallSignal): Promise<Permit> {
    if (this.closed) return Promise.reject(new Error("limiter closed"));
    if (signal.aborted) return Promise.reject(new Error("aborted while waiting for a rate-limit slot"));
    const id = this.nextId++;
    return new Promise<Permit>((resolve, reject) => {
      const onAbort = () => {
        this.waiting.delete(id);
        this.post({ t: "abort", id });
        reject(new Error("aborted while waiting for a rate-limit slot"));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      const done = () => signal.removeEventListener("abort", onAbort);
      this.waiting.set(id, { resolve, reject, done });
      this.post({ t: "acquire", id, provider, tokens });
    });
  }

  /** An answer of the engine thread to an acquire. */
  answered(message: Extract<FromEngine, { t: "granted" | "refused" }>): void {
    const w = this.waiting.get(message.id);
    if (!w) {
      // Aborted here while the engine thread granted it: the abort message releases it there.
      return;
    }
    this.waiting.delete(message.id);
    w.done();
    if (message.t === "refused") w.reject(new Error(message.message));
    else w.resolve(this.permit(message.id));
  }

  private permit(id: number): Permit {
    let released = false;
    return {
      release: (outcome, actualTokens) => {
        if (released) return;
        released = true;
        this.post({ t: "release", id, outcome: releasedOutcome(outcome), actualTokens });
      },
    };
  }

  /** Rejects every waiter (shutdown, or the engine thread is gone). */
  close(): void {
    this.closed = true;
    for (const [id, w] of this.waiting) {
      this.waiting.delete(id);
      w.done();
      w.reject(new Error("limiter closed"));
    }
  }
}

/**
 * The engine thread's side: acquires on its own limiters for the API thread, holds the permits
 * granted until the API thread releases them, and releases at once a permit whose wait the API
 * thread gave up on.
 */
export class LimiterServer {
  private readonly calls = new Map<number, { controller: AbortController; permit?: Permit }>();

  constructor(
    private readonly limiters: Limiters,
    private readonly post: (message: FromEngine) => void,
  ) {}

  handle(message: Extract<ToEngine, { t: "acquire" | "abort" | "release" }>): void {
    if (message.t === "acquire") {
      this.acquire(message.id, message.provider, message.tokens);
      return;
    }
    const call = this.calls.get(message.id);
    if (!call) return;
    this.calls.delete(message.id);
    if (message.t === "abort") {
      if (call.permit) call.permit.release(null);
      else call.controller.abort();
      return;
    }
    // Only the fields UpstreamLimiter.learn reads cross the threads (releasedOutcome).
    call.permit?.release(message.outcome as ModelOutcome | null, message.actualTokens);
  }

  private acquire(id: number, provider: string, tokens: number): void {
    const call: { controller: AbortController; permit?: Permit } = { controller: new AbortController() };
    this.calls.set(id, call);
    this.limiters
      .get(provider)
      .acquire(tokens, call.controller.signal)
      .then(
        (permit) => {
          if (this.calls.get(id) !== call) {
            permit.release(null);
            return;
          }
          call.permit = permit;
          this.post({ t: "granted", id });
        },
        (err: Error) => {
          this.calls.delete(id);
          this.post({ t: "refused", id, message: err.message });
        },
      );
  }

  /** Releases every permit the API thread still holds (the engine thread is stopping). */
  close(): void {
    for (const call of this.calls.values()) {
      if (call.permit) call.permit.release(null);
      else call.controller.abort();
    }
    this.calls.clear();
  }
}
