import type { Config } from "../config/index.js";
import type { Signals } from "../engine/signals.js";
import type { FileStorage } from "../files/storage.js";
import type { Metrics } from "../metrics/prometheus.js";
import type { LimiterRegistry } from "../providers/rate-limiter.js";
import type { ProviderRegistry } from "../providers/registry.js";
import type { Store } from "../store/types.js";
import type { KeyResolver } from "./auth.js";

/**
 * What the routes get to work with. Routes never call providers themselves: batch items go to
 * the engine, and a chat message is run by chats/run-chat-turn.ts.
 */
export interface AppContext {
  store: Store;
  signals: Signals;
  config: Config;
  keys: KeyResolver;
  providers: ProviderRegistry;
  files: FileStorage;
  /** Per-upstream limits, shared with the engine: chat messages run interactively in the API process. */
  limiters: LimiterRegistry;
  /** The Prometheus registry served at /metrics (absent: no /metrics route). */
  metrics?: Metrics;
}
