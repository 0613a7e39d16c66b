import type { FastifyReply } from "fastify";
import type { MockLimits } from "./limits.js";
import type { MockRequestLog } from "./request-log.js";

/** What the mock's OpenAI and Anthropic routes share: latency, fault injection, limits and log. */
export interface MockRouteDeps {
  /** Time before answering; a stream spreads its chunks over it. */
  latencyMs: number;
  /** Each answer's time is drawn uniformly within ±this of `latencyMs` (at most it); 0: all the same. */
  latencyJitterMs: number;
  /** Share of requests, 0 to 1, answered with an injected 500. */
  errorRate: number;
  limits: MockLimits;
  log: MockRequestLog;
  /** Keeps each request body (for tests that look at the wire); absent unless asked for. */
  capture?: (path: string, body: unknown) => void;
  /** Prompt tokens each chat completion reports as cached (at most its prompt); 0 reports none. */
  cachedPromptTokens: number;
}

/**
 * This answer's time before answering: `latencyMs`, or with `latencyJitterMs` (at most
 * `latencyMs`, `startMockLlm` checks) a uniform draw within ±jitter of it. With a fixed latency
 * every call that left together comes back together, so a client gets its answers in waves
 * (bench/README.md, "Issue 17 on an AMD EPYC machine"); the spread breaks them up. A draw is
 * never below 0 (the callers wait only for a positive one: no timer at all at 0).
 */
export function answerDelayMs(
  deps: Pick<MockRouteDeps, "latencyMs" | "latencyJitterMs">,
  random = Math.random,
): number {
  if (deps.latencyJitterMs <= 0) return deps.latencyMs;
  return Math.max(0, deps.latencyMs + (random() * 2 - 1) * deps.latencyJitterMs);
}

/** Whether this request gets the injected 500 (decided without awaiting: the common case is none). */
export function injectsFault(deps: MockRouteDeps): boolean {
  return deps.errorRate > 0 && Math.random() < deps.errorRate;
}

/** Whole seconds for `retry-after` (at least 1) from a wait in milliseconds. */
export function retryAfterSeconds(waitMs: number): string {
  return String(Math.max(1, Math.ceil(waitMs / 1000)));
}

/** What one event stream sends: `head` at once, `deltas` spread over the latency, then `tail`. */
export interface EventStreamParts {
  head: string;
  deltas: string[];
  tail: string;
}

/**
 * Writes a Server-Sent Events answer on the raw socket (Fastify's reply is hijacked): all at
 * once at zero latency (the benchmark's case), else the deltas spread over the latency, stopping
 * if the client went away.
 */
export async function writeEventStream(
  reply: FastifyReply,
  headers: Record<string, string>,
  parts: EventStreamParts,
  latencyMs: number,
): Promise<void> {
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, { ...headers, "content-type": "text/event-stream", "cache-control": "no-cache" });
  if (latencyMs <= 0) {
    raw.end(parts.head + parts.deltas.join("") + parts.tail);
    return;
  }
  if (parts.head) raw.write(parts.head);
  const step = latencyMs / Math.max(1, parts.deltas.length);
  for (const delta of parts.deltas) {
    await delay(step);
    if (raw.destroyed) return;
    raw.write(delta);
  }
  raw.end(parts.tail);
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
