import type { HttpToolCaller } from "../agents/tools/http.js";
import type { Config } from "../config/index.js";
import type { Signals } from "../engine/signals.js";
import type { FileStorage } from "../files/storage.js";
import type { Metrics } from "../metrics/prometheus.js";
import type { Limiters } from "../providers/rate-limiter.js";
import type { ProviderRegistry } from "../providers/registry.js";
import type { Store, Workspace } from "../store/types.js";
import type { KeyResolver } from "./auth.js";
import type { BatchIngests } from "./ingest-runner.js";

declare module "fastify" {
  interface FastifyRequest {
    /** The caller's workspace, set by each API's authentication hook before any handler runs. */
    workspace: Workspace;
  }
}

/** What the OpenAI routes ask of the output writer the service runs (batch-apis/openai-output.ts). */
export interface OutputFileWriter {
  /** Write the files of ended batches now rather than at the next sweep. */
  kick(): void;
}

/**
 * What the routes get to work with. Routes never call providers themselves: batch items go to
 * the engine, and a chat message is run by agents/chat-message.ts.
 */
export interface AppContext {
  store: Store;
  signals: Signals;
  config: Config;
  keys: KeyResolver;
  providers: ProviderRegistry;
  files: FileStorage;
  /** Per-upstream limits, shared with the engine (in this thread or the engine thread): chat messages run interactively in the API. */
  limiters: Limiters;
  /** Calls agents' http tools in chat turns (agents with tools fail in chats without it). */
  tools?: HttpToolCaller;
  /** Writes the output files of OpenAI-shaped batches; started and stopped by the service. */
  openAIOutput: OutputFileWriter;
  /** Reads the input files of batches in the background (ingest-runner.ts); started and stopped by the service. */
  ingests: BatchIngests;
  /** The Prometheus registry served at /metrics (absent: no /metrics route). */
  metrics?: Metrics;
  /** Aborted when the service begins to stop: live progress streams end at once (they never end on their own). */
  closing?: AbortSignal;
}
