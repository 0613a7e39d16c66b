import type { Config } from "../config/index.js";
import type { MetricsJson } from "../metrics/prometheus.js";
import type { RateLimitHint } from "../providers/types.js";

/** What the engine thread starts with (`workerData`): the service's config, as loaded. */
export interface EngineThreadData {
  config: Config;
  /** The API thread's logger's level (a test's may be silent whatever the config says). */
  logLevel: string;
}

/** What an upstream's limiter learns from a released call (a 429, its wait, rate-limit headers). */
export interface ReleasedOutcome {
  kind: "success" | "retryable" | "failed";
  rateLimited?: boolean;
  retryAfterMs?: number;
  rateLimit?: RateLimitHint;
}

/** API thread → engine thread. */
export type ToEngine =
  | { t: "acquire"; id: number; provider: string; tokens: number }
  | { t: "abort"; id: number }
  | { t: "release"; id: number; outcome: ReleasedOutcome | null; actualTokens?: number }
  | { t: "metrics"; id: number }
  | { t: "stop"; graceMs: number }
  /** The API has drained: the engine thread's limiters may stop serving its chat turns. */
  | { t: "api-drained" };

/** Engine thread → API thread. */
export type FromEngine =
  | { t: "ready" }
  | { t: "granted"; id: number }
  | { t: "refused"; id: number; message: string }
  | { t: "metrics"; id: number; series: MetricsJson | null }
  | { t: "stopped" }
  /** A log line of the engine thread, written to the API thread's logger's destination. */
  | { t: "log"; line: string }
  | { t: "failed"; message: string; stack?: string };
