/**
 * What a model call reports for /metrics. `runTurn` calls the hook for every call it makes, for
 * batch items and chat messages alike; the Prometheus side (src/metrics/) implements it, so that
 * no metrics library reaches into agents/ or the engine.
 */
export interface UpstreamCallReport {
  /** The provider's configured name (the part of `provider/model` before the slash). */
  provider: string;
  model: string;
  durationMs: number;
  /** A provider that threw counts as `failed`. */
  outcome: "success" | "retryable" | "failed";
  /** The upstream answered 429 (or said its rate limit was spent). */
  rateLimited: boolean;
}

export interface UpstreamCallMetrics {
  /** One model call to an upstream finished, whatever its outcome. */
  upstreamCall(report: UpstreamCallReport): void;
}
