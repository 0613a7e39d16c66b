import type { EngineConfig } from "./types.js";

/** The largest input-file record (CSV record, JSONL line) or Anthropic request read by default. */
export const DEFAULT_MAX_RECORD_BYTES = 10 * 1024 * 1024;

export const defaultEngineConfig: EngineConfig = {
  concurrency: 256,
  maxAttempts: 6,
  leaseMs: 60_000,
  commitIntervalMs: 100,
  pollIntervalMs: 500,
  retryBaseMs: 1_000,
  retryMaxMs: 60_000,
  requestTimeoutMs: 120_000,
  completionWindowMs: 24 * 3600_000,
  quarantineAfter: 5,
  shutdownGraceMs: 8_000,
  workspaceShare: 0.5,
  cancelAbortsInFlight: false,
  itemAttachmentBytes: 50 * 1024 * 1024,
  attachmentMemoryBytes: 256 * 1024 * 1024,
  thread: "auto",
};

/** With `engine.thread` "auto", the engine concurrency from which the engine gets a thread of its own. */
export const ENGINE_THREAD_AUTO_CONCURRENCY = 1_000;

/** Default prices (USD per million tokens) for common models; the config file overrides them. */
export const defaultPrices: Record<string, { input: number; output: number }> = {
  "gpt-4o": { input: 2.5, output: 10 },
  "gpt-4o-mini": { input: 0.15, output: 0.6 },
  "gpt-4.1": { input: 2, output: 8 },
  "gpt-4.1-mini": { input: 0.4, output: 1.6 },
  "gpt-4.1-nano": { input: 0.1, output: 0.4 },
  "claude-sonnet-4": { input: 3, output: 15 },
  "claude-haiku-4": { input: 1, output: 5 },
  "claude-opus-4": { input: 15, output: 75 },
};
