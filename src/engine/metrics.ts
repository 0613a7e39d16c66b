/**
 * What the engine reports for /metrics. The engine calls these hooks; the Prometheus side
 * (src/metrics/) implements them, so that no metrics library reaches into the scheduler.
 */
export interface UpstreamCallReport {
  /** The provider's configured name (the part of `provider/model` before the slash). */
  provider: string;
  model: string;
  durationMs: number;
  outcome: "success" | "retryable" | "failed";
  /** The upstream answered 429 (or said its rate limit was spent). */
  rateLimited: boolean;
}

export interface EngineMetrics {
  /** One model call to an upstream finished, whatever its outcome. */
  upstreamCall(report: UpstreamCallReport): void;
  /** An item goes back to pending for another attempt after a retryable failure. */
  itemRetried(provider: string, model: string, errorCode: number): void;
}

export const noEngineMetrics: EngineMetrics = {
  upstreamCall() {},
  itemRetried() {},
};
