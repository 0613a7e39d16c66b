/** The configuration, as the rest of agentbatch reads it (camelCase, every default filled in). */

/** A named upstream from the config file's `providers` map. */
export interface ProviderConfig {
  type: "openai-compatible" | "simulated" | "anthropic";
  baseUrl?: string;
  apiKey?: string;
  rpm?: number;
  tpm?: number;
  maxConcurrency?: number;
  timeoutMs?: number;
}

export interface EngineConfig {
  /** Most items one process runs at once, across every upstream. */
  concurrency: number;
  /** Attempts per item before a retryable failure becomes final. */
  maxAttempts: number;
  /** How long a claim holds an item; renewed at a third of it while the item runs. */
  leaseMs: number;
  /**
   * Most items taken in one claim statement; unset, 200, or concurrency/20 when that is more (at
   * most 1,000): `claimGroupOf`.
   */
  claimBatchSize?: number;
  /**
   * Items claimed beyond `concurrency` and held in a local buffer, so that a finished item's
   * slot is refilled at once (0: none); unset, the completions of 25 ms at the measured rate,
   * at least concurrency (at most 512) and at most two claim groups (at most 1,024): `claimAheadOf`.
   */
  claimAhead?: number;
  /**
   * Results buffered before a group commit (unset, 200, or concurrency/25 when that is more, at
   * most 1,000: `commitGroupOf`), and the longest a result waits.
   */
  commitBatchSize?: number;
  commitIntervalMs: number;
  /** How often the idle engine looks for work and runs maintenance (reaper, expiry). */
  pollIntervalMs: number;
  /** Backoff of retries: first delay and cap. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Upstream call timeout. */
  requestTimeoutMs: number;
  /** Default completion window of a batch. */
  completionWindowMs: number;
  /**
   * An item in flight during this many worker crashes (or lease expiries) fails as quarantined
   * instead of running again. Interruptions never spend one of `maxAttempts`.
   */
  quarantineAfter: number;
  /** On SIGTERM/SIGINT: how long in-flight calls (and webhook deliveries) may finish; below Docker's 10 s. */
  shutdownGraceMs: number;
  /** The share of `concurrency` one workspace may hold while other workspaces have work (0..1). */
  workspaceShare: number;
  /**
   * A cancel also aborts the batch's calls in flight (their items fail with 499) instead of
   * letting them complete normally, as seed 000 documents (the default).
   */
  cancelAbortsInFlight: boolean;
  /** Most bytes of files one item may attach. */
  itemAttachmentBytes: number;
  /** The bytes of attachments (raw and base64) the items of one process hold in memory at once. */
  attachmentMemoryBytes: number;
  /**
   * On a SQLite file, when one process serves the API and runs the engine: the engine and the
   * webhook dispatcher run in a worker thread with a connection of their own, so the API's
   * requests never wait behind the engine's turns (`src/threads/`). Ignored on PostgreSQL and
   * `sqlite::memory:`. `"auto"` (the default): on when `concurrency` is at least
   * `ENGINE_THREAD_AUTO_CONCURRENCY` (1,000), where the engine's turns, garbage and heap are large
   * enough for the API to wait behind them; below it the thread's cost (a second heap, messages
   * between threads) buys little.
   */
  thread: boolean | "auto";
}

export interface WebhookConfig {
  /** Send to targets that resolve to loopback, private, link-local or metadata addresses. */
  allowPrivateTargets: boolean;
  /** Accept and send to http:// URLs (local development). */
  allowHttp: boolean;
  /** Timeout of one delivery attempt. */
  timeoutMs: number;
  /** Run the delivery worker in processes that run the engine. */
  dispatch: boolean;
  /** Delay before the first retry (doubling after, with jitter), its cap, and how long to keep trying. */
  retryBaseMs: number;
  retryMaxMs: number;
  retryWindowMs: number;
  /** Most deliveries one process sends at once. */
  concurrency: number;
  /** Most deliveries one process sends at once to one target host (a host that hangs holds only these). */
  perHostConcurrency: number;
  /** How often the idle dispatcher looks for due deliveries (it is also woken by batch changes). */
  pollIntervalMs: number;
  /** A PEM file of extra CA certificates trusted for https targets, besides the system roots. */
  caFile?: string;
}

/** Agent tools (src/agents/tools). */
export interface ToolsConfig {
  /**
   * Origins (`http://127.0.0.1:9000`) an http tool may be served from besides public https URLs:
   * plain http and private addresses are allowed for these only (tests, the demo).
   */
  trustedOrigins: string[];
  /** Most http tool calls running at once against one host, per process. */
  concurrencyPerHost: number;
}

/** Where file bytes go (see src/files/storage.ts). */
export interface FilesConfig {
  backend: "local" | "db" | "s3";
  /** Most bytes of files one workspace may store (uploads past it: 413); unset: no quota. */
  workspaceQuotaBytes?: number;
  /** Files older than this many days are deleted by the retention loop; unset: kept. */
  retentionDays?: number;
  /** How often the retention loop runs (default one hour). */
  retentionSweepMs?: number;
  /**
   * How long an input file's ingest may go without a heartbeat before another process takes it
   * over and reads on (default 60 s; its owner beats every quarter of it).
   */
  ingestStaleMs?: number;
  /** Credentials not given here come from the standard AWS chain. */
  s3?: {
    bucket: string;
    /** Put before every key (e.g. `agentbatch/`). */
    prefix: string;
    /** A non-AWS endpoint (MinIO, R2, Ceph...); path-style addressing is used with it. */
    endpoint?: string;
    region?: string;
    accessKeyId?: string;
    secretAccessKey?: string;
  };
}

/** OpenTelemetry traces (src/tracing), from the standard OTEL_* environment variables. */
export interface TracingSettings {
  /** OTLP/HTTP traces URL; null when tracing is off. */
  endpoint: string | null;
  serviceName: string;
  /** Message and tool contents on spans (AGENTBATCH_TRACE_CONTENT). */
  includeContent: boolean;
  exportDelayMs: number;
}

export interface Config {
  db: string;
  tracing: TracingSettings;
  /** File bytes: the data directory, the database, or an S3-compatible bucket. */
  files: FilesConfig;
  /** Where uploaded and produced files are kept (and the demo key). */
  dataDir: string;
  /** Largest file upload accepted. */
  maxUploadBytes: number;
  /** Largest chat attachment (`POST /chats/upload-file`); capped by maxUploadBytes. */
  maxAttachmentBytes: number;
  /** Most rows (requests) one batch may have; a larger file fails its batch naming the cap. */
  maxRowsPerBatch: number;
  /** Most unfinished rows a workspace may have across its batches; a create over it is a 400. */
  maxRowsPerWorkspace: number;
  port: number;
  host: string;
  /**
   * The absolute URL clients reach agentbatch at (`https://batch.example.com`): pagination links,
   * `file_url` and Anthropic's `results_url` use it instead of the request's Host.
   */
  publicUrl?: string;
  /**
   * Fastify's trustProxy: believe X-Forwarded-For/-Proto/-Host (client address for rate limits,
   * links' scheme and host) only from these proxies. false (the default): never.
   */
  trustProxy: boolean | number | string;
  bodyLimitBytes: number;
  /**
   * Largest record of an input file (a CSV record, a JSONL line) and of one Anthropic batch
   * request's params: larger ones are a 400 naming the line or request.
   */
  maxRecordBytes: number;
  providers: Record<string, ProviderConfig>;
  engine: EngineConfig;
  webhooks: WebhookConfig;
  tools: ToolsConfig;
  /** USD per million tokens, by `provider/model` (or bare model name). */
  prices: Record<string, { input: number; output: number }>;
  /**
   * Model aliases for the OpenAI / Anthropic batch shapes: a request's `model` → `provider/model`
   * (`{"gpt-4o-mini": "simulated/gpt-4o-mini"}` runs an unchanged OpenAI file offline).
   */
  models: Record<string, string>;
  /** Registered at start as a key of the default workspace when set. */
  bootstrapApiKey?: string;
  logLevel: string;
  /** Live progress streams (SSE and WebSocket). */
  progress: ProgressConfig;
  rateLimit: RateLimitConfig;
  /** When set, /metrics answers only `Authorization: Bearer <metricsToken>`. */
  metricsToken?: string;
}

/** Per-key limits of the HTTP APIs (server/rate-limit.ts). */
export interface RateLimitConfig {
  enabled: boolean;
  /** Requests one API key (or, without a key, one client address) may send a minute. */
  requestsPerMinute: number;
}

export interface ProgressConfig {
  /** Keepalive of idle streams (a comment on SSE, `{"type":"keepalive"}` on WebSocket). */
  keepaliveMs: number;
  /** Progress events of one stream are coalesced to at most one per this interval. */
  minIntervalMs: number;
  /** A stream also re-reads its batch this often (changes made by another process). */
  pollMs: number;
}

export interface ConfigOverrides {
  db?: string;
  port?: number;
  host?: string;
  configFile?: string;
}
