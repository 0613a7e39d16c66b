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
  /** Most items taken in one claim statement. */
  claimBatchSize: number;
  /** Results buffered before a group commit, and the longest a result waits. */
  commitBatchSize: number;
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

/** Where file bytes go (see src/files/storage.ts). */
export interface FilesConfig {
  backend: "local" | "db" | "s3";
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
  /** Absolute base URL used for pagination links when the request does not say (proxy setups). */
  publicUrl?: string;
  bodyLimitBytes: number;
  providers: Record<string, ProviderConfig>;
  engine: EngineConfig;
  webhooks: WebhookConfig;
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
