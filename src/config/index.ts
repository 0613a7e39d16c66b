import { readFileSync } from "node:fs";
import { dirname } from "node:path";

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
  /** How often the idle dispatcher looks for due deliveries (it is also woken by batch changes). */
  pollIntervalMs: number;
  /** A PEM file of extra CA certificates trusted for https targets, besides the system roots. */
  caFile?: string;
}

/** Where file bytes go (see src/files/storage.ts). */
export interface FilesConfig {
  backend: "local" | "db" | "s3";
  s3?: {
    bucket: string;
    prefix: string;
    endpoint?: string;
    region?: string;
    accessKeyId?: string;
    secretAccessKey?: string;
  };
}

export interface Config {
  db: string;
  /** File bytes: the data directory, the database, or an S3-compatible bucket. */
  files: FilesConfig;
  /** Where uploaded and produced files are kept (and the demo key). */
  dataDir: string;
  /** Largest file upload accepted. */
  maxUploadBytes: number;
  /** Largest chat attachment (`POST /chats/upload-file`); capped by maxUploadBytes. */
  maxAttachmentBytes: number;
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

export const defaultEngineConfig: EngineConfig = {
  concurrency: 256,
  maxAttempts: 6,
  leaseMs: 60_000,
  claimBatchSize: 200,
  commitBatchSize: 100,
  commitIntervalMs: 100,
  pollIntervalMs: 500,
  retryBaseMs: 1_000,
  retryMaxMs: 60_000,
  requestTimeoutMs: 120_000,
  completionWindowMs: 24 * 3600_000,
};

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

interface RawConfigFile {
  providers?: Record<string, Record<string, unknown>>;
  engine?: Record<string, unknown>;
  webhooks?: Record<string, unknown>;
  prices?: Record<string, { input: number; output: number }>;
  models?: Record<string, unknown>;
  files?: Record<string, unknown>;
  public_url?: string;
  body_limit_bytes?: number;
  max_upload_bytes?: number;
  max_attachment_bytes?: number;
}

function num(v: unknown): number | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`config: expected a number, got ${JSON.stringify(v)}`);
  return n;
}

function snakeToCamel(s: string): string {
  return s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

function parseProvider(name: string, raw: Record<string, unknown>): ProviderConfig {
  const type = (raw.type ?? "openai-compatible") as ProviderConfig["type"];
  if (!["openai-compatible", "simulated", "anthropic"].includes(type)) {
    throw new Error(`config: providers.${name}.type must be openai-compatible, anthropic or simulated`);
  }
  return {
    type,
    baseUrl: raw.base_url as string | undefined,
    apiKey: raw.api_key as string | undefined,
    rpm: num(raw.rpm),
    tpm: num(raw.tpm),
    maxConcurrency: num(raw.max_concurrency),
    timeoutMs: num(raw.timeout_ms),
  };
}

function parseModelAliases(raw: Record<string, unknown>): Record<string, string> {
  const models: Record<string, string> = {};
  for (const [alias, target] of Object.entries(raw)) {
    if (typeof target !== "string" || target.indexOf("/") <= 0) {
      throw new Error(`config: models.${alias} must be "provider/model", got ${JSON.stringify(target)}`);
    }
    models[alias] = target;
  }
  return models;
}

/**
 * The files backend: `AGENTBATCH_FILES_BACKEND` or the file's `files.backend`; by default the
 * database on PostgreSQL (a deployment needs nothing but PostgreSQL) and the data directory on SQLite.
 */
function parseFiles(raw: Record<string, unknown>, env: NodeJS.ProcessEnv, db: string): FilesConfig {
  const backend = String(
    env.AGENTBATCH_FILES_BACKEND ?? raw.backend ?? (/^postgres(ql)?:/.test(db) ? "db" : "local"),
  );
  if (!["local", "db", "s3"].includes(backend)) {
    throw new Error(`config: files.backend must be local, db or s3, got ${JSON.stringify(backend)}`);
  }
  const s3raw = (raw.s3 ?? {}) as Record<string, unknown>;
  const bucket = (env.AGENTBATCH_S3_BUCKET ?? s3raw.bucket) as string | undefined;
  if (backend === "s3" && !bucket)
    throw new Error("config: files.backend s3 needs files.s3.bucket (or AGENTBATCH_S3_BUCKET)");
  const s3 = bucket
    ? {
        bucket,
        prefix: String(env.AGENTBATCH_S3_PREFIX ?? s3raw.prefix ?? ""),
        endpoint: (env.AGENTBATCH_S3_ENDPOINT ?? s3raw.endpoint) as string | undefined,
        region: (env.AWS_REGION ?? s3raw.region) as string | undefined,
        accessKeyId: s3raw.access_key_id as string | undefined,
        secretAccessKey: s3raw.secret_access_key as string | undefined,
      }
    : undefined;
  return { backend: backend as FilesConfig["backend"], ...(s3 ? { s3 } : {}) };
}

export interface ConfigOverrides {
  db?: string;
  port?: number;
  host?: string;
  configFile?: string;
}

/**
 * Builds the configuration from, in rising precedence: defaults, the JSON config file
 * (`--config` / AGENTBATCH_CONFIG), environment variables, and command-line flags.
 */
export function loadConfig(overrides: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const file = overrides.configFile ?? env.AGENTBATCH_CONFIG;
  let raw: RawConfigFile = {};
  if (file) {
    try {
      raw = JSON.parse(readFileSync(file, "utf8")) as RawConfigFile;
    } catch (err) {
      throw new Error(`config: cannot read ${file}: ${(err as Error).message}`);
    }
  }
  const engine: EngineConfig = { ...defaultEngineConfig };
  for (const [k, v] of Object.entries(raw.engine ?? {})) {
    const key = snakeToCamel(k) as keyof EngineConfig;
    if (!(key in engine)) throw new Error(`config: unknown engine setting ${k}`);
    engine[key] = num(v) as number;
  }
  const envEngine: [string, keyof EngineConfig][] = [
    ["AGENTBATCH_CONCURRENCY", "concurrency"],
    ["AGENTBATCH_MAX_ATTEMPTS", "maxAttempts"],
    ["AGENTBATCH_LEASE_MS", "leaseMs"],
    ["AGENTBATCH_POLL_MS", "pollIntervalMs"],
    ["AGENTBATCH_RETRY_BASE_MS", "retryBaseMs"],
    ["AGENTBATCH_RETRY_MAX_MS", "retryMaxMs"],
    ["AGENTBATCH_REQUEST_TIMEOUT_MS", "requestTimeoutMs"],
  ];
  for (const [name, key] of envEngine) {
    const v = num(env[name]);
    if (v !== undefined) engine[key] = v;
  }

  const providers: Record<string, ProviderConfig> = {};
  for (const [name, p] of Object.entries(raw.providers ?? {})) providers[name] = parseProvider(name, p);
  if (!providers.openai) {
    providers.openai = {
      type: "openai-compatible",
      baseUrl: env.OPENAI_BASE_URL ?? "https://api.openai.com/v1",
      apiKey: env.OPENAI_API_KEY,
    };
  }
  if (!providers.anthropic) {
    providers.anthropic = {
      type: "anthropic",
      baseUrl: env.ANTHROPIC_BASE_URL ?? "https://api.anthropic.com",
      apiKey: env.ANTHROPIC_API_KEY,
    };
  }
  if (!providers.simulated) providers.simulated = { type: "simulated" };

  const rawHooks = raw.webhooks ?? {};
  const truthy = (v: unknown) => v === true || v === "1" || v === "true";
  const db = overrides.db ?? env.AGENTBATCH_DB ?? "sqlite:./data/agentbatch.db";
  const sqlitePath = db.startsWith("sqlite:") ? db.slice("sqlite:".length) : null;
  return {
    db,
    files: parseFiles(raw.files ?? {}, env, db),
    // Files sit beside the SQLite database by default, so one folder holds a whole instance.
    dataDir:
      env.AGENTBATCH_DATA_DIR ?? (sqlitePath && sqlitePath !== ":memory:" ? dirname(sqlitePath) : "./data"),
    maxUploadBytes: num(env.AGENTBATCH_MAX_UPLOAD_BYTES) ?? num(raw.max_upload_bytes) ?? 512 * 1024 * 1024,
    maxAttachmentBytes:
      num(env.AGENTBATCH_MAX_ATTACHMENT_BYTES) ?? num(raw.max_attachment_bytes) ?? 20 * 1024 * 1024,
    port: overrides.port ?? num(env.PORT) ?? num(env.AGENTBATCH_PORT) ?? 8080,
    host: overrides.host ?? env.AGENTBATCH_HOST ?? "127.0.0.1",
    publicUrl: raw.public_url ?? env.AGENTBATCH_PUBLIC_URL,
    bodyLimitBytes: num(raw.body_limit_bytes) ?? 10 * 1024 * 1024,
    providers,
    engine,
    webhooks: {
      allowPrivateTargets:
        truthy(rawHooks.allow_private_targets) || truthy(env.AGENTBATCH_WEBHOOK_ALLOW_PRIVATE),
      allowHttp: truthy(rawHooks.allow_http) || truthy(env.AGENTBATCH_WEBHOOK_ALLOW_HTTP),
      timeoutMs: num(env.AGENTBATCH_WEBHOOK_TIMEOUT_MS) ?? num(rawHooks.timeout_ms) ?? 10_000,
      dispatch: env.AGENTBATCH_WEBHOOK_DISPATCH
        ? truthy(env.AGENTBATCH_WEBHOOK_DISPATCH)
        : rawHooks.dispatch === undefined || truthy(rawHooks.dispatch),
      retryBaseMs: num(env.AGENTBATCH_WEBHOOK_RETRY_BASE_MS) ?? num(rawHooks.retry_base_ms) ?? 5_000,
      retryMaxMs: num(rawHooks.retry_max_ms) ?? 3600_000,
      retryWindowMs: num(rawHooks.retry_window_ms) ?? 24 * 3600_000,
      concurrency: num(rawHooks.concurrency) ?? 32,
      pollIntervalMs: num(rawHooks.poll_interval_ms) ?? 2_000,
      caFile: env.AGENTBATCH_WEBHOOK_CA_FILE || (rawHooks.ca_file as string | undefined) || undefined,
    },
    prices: { ...defaultPrices, ...(raw.prices ?? {}) },
    models: parseModelAliases(raw.models ?? {}),
    bootstrapApiKey: env.AGENTBATCH_API_KEY || undefined,
    logLevel: env.AGENTBATCH_LOG_LEVEL ?? env.LOG_LEVEL ?? "info",
    progress: { keepaliveMs: 30_000, minIntervalMs: 250, pollMs: 2_000 },
  };
}
