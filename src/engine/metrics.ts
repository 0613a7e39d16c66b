import type { UpstreamCallMetrics } from "../agents/metrics.js";

/**
 * What the engine reports for /metrics: every upstream call (through `runTurn`, the hook that
 * chat messages report to as well) and its own retries. The Prometheus side (src/metrics/)
 * implements it, so that no metrics library reaches into the scheduler.
 */
export interface EngineMetrics extends UpstreamCallMetrics {
  /** An item goes back to pending for another attempt after a retryable failure. */
  itemRetried(provider: string, model: string, errorCode: number): void;
}
