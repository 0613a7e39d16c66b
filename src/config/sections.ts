/**
 * Each section of the configuration from the validated file and the environment: a variable that
 * is set (not empty) wins over the file, whichever way it points.
 */
import { defaultEngineConfig } from "./defaults.js";
import type { ConfigFile } from "./file-schema.js";
import type {
  EngineConfig,
  FilesConfig,
  ProviderConfig,
  RateLimitConfig,
  ToolsConfig,
  TracingSettings,
  WebhookConfig,
} from "./types.js";

type Env = NodeJS.ProcessEnv;

/** A number from an environment variable; anything else is a start-up error naming the variable. */
export function envNumber(env: Env, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`config: ${name} must be a number, got ${JSON.stringify(v)}`);
  return n;
}

const truthy = (v: unknown) => v === true || v === "1" || v === "true";

const FLAG_VALUES: Record<string, boolean> = {
  1: true,
  true: true,
  yes: true,
  on: true,
  0: false,
  false: false,
  no: false,
  off: false,
};

/** The flag a value spells, own keys only (`constructor` or `__proto__` is no flag). */
function flagValue(v: string): boolean | undefined {
  const key = v.toLowerCase();
  return Object.hasOwn(FLAG_VALUES, key) ? FLAG_VALUES[key] : undefined;
}

/** An on/off environment variable (1/0, true/false, yes/no, on/off); anything else is a start-up error naming it. */
export function envFlag(env: Env, name: string): boolean | undefined {
  const v = env[name];
  if (v === undefined || v === "") return undefined;
  const flag = flagValue(v);
  if (flag === undefined)
    throw new Error(`config: ${name} must be 1 or 0 (true/false), got ${JSON.stringify(v)}`);
  return flag;
}

type NumericEngineKey = {
  [K in keyof EngineConfig]-?: EngineConfig[K] extends number ? K : never;
}[keyof EngineConfig];

const ENGINE_ENV: [string, NumericEngineKey][] = [
  ["AGENTBATCH_CONCURRENCY", "concurrency"],
  ["AGENTBATCH_MAX_ATTEMPTS", "maxAttempts"],
  ["AGENTBATCH_LEASE_MS", "leaseMs"],
  ["AGENTBATCH_POLL_MS", "pollIntervalMs"],
  ["AGENTBATCH_RETRY_BASE_MS", "retryBaseMs"],
  ["AGENTBATCH_RETRY_MAX_MS", "retryMaxMs"],
  ["AGENTBATCH_REQUEST_TIMEOUT_MS", "requestTimeoutMs"],
  ["AGENTBATCH_QUARANTINE_AFTER", "quarantineAfter"],
  ["AGENTBATCH_SHUTDOWN_GRACE_MS", "shutdownGraceMs"],
  ["AGENTBATCH_WORKSPACE_SHARE", "workspaceShare"],
  ["AGENTBATCH_ATTACHMENT_MEMORY_BYTES", "attachmentMemoryBytes"],
];

function snakeToCamel(s: string): string {
  return s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

export function engineSection(file: ConfigFile, env: Env): EngineConfig {
  const engine: EngineConfig = { ...defaultEngineConfig };
  for (const [k, v] of Object.entries(file.engine ?? {})) {
    if (v !== undefined) (engine as unknown as Record<string, unknown>)[snakeToCamel(k)] = v;
  }
  for (const [name, key] of ENGINE_ENV) {
    const v = envNumber(env, name);
    if (v !== undefined) (engine[key] as number) = v;
  }
  const abort = envFlag(env, "AGENTBATCH_CANCEL_ABORTS_IN_FLIGHT");
  if (abort !== undefined) engine.cancelAbortsInFlight = abort;
  const thread = env.AGENTBATCH_ENGINE_THREAD;
  if (thread?.toLowerCase() === "auto") engine.thread = "auto";
  else if (thread) {
    const flag = flagValue(thread);
    if (flag === undefined)
      throw new Error(`config: AGENTBATCH_ENGINE_THREAD must be 1, 0 or auto, got ${JSON.stringify(thread)}`);
    engine.thread = flag;
  }
  return engine;
}

/**
 * The file's providers, plus the built-in `openai`, `anthropic` and `simulated` unless the file
 * names them; the built-in `simulated` is left out when `simulated_provider` (or
 * AGENTBATCH_SIMULATED_PROVIDER) is false.
 */
export function providersSection(file: ConfigFile, env: Env): Record<string, ProviderConfig> {
  const providers: Record<string, ProviderConfig> = {};
  for (const [name, p] of Object.entries(file.providers ?? {})) {
    providers[name] = {
      type: p.type ?? "openai-compatible",
      baseUrl: p.base_url,
      apiKey: p.api_key,
      rpm: p.rpm,
      tpm: p.tpm,
      maxConcurrency: p.max_concurrency,
      timeoutMs: p.timeout_ms,
    };
  }
  providers.openai = builtInProvider(providers.openai, env, "OPENAI", {
    type: "openai-compatible",
    baseUrl: "https://api.openai.com/v1",
  });
  providers.anthropic = builtInProvider(providers.anthropic, env, "ANTHROPIC", {
    type: "anthropic",
    baseUrl: "https://api.anthropic.com",
  });
  const simulated = envFlag(env, "AGENTBATCH_SIMULATED_PROVIDER") ?? file.simulated_provider !== false;
  if (simulated) providers.simulated ??= { type: "simulated" };
  return providers;
}

/** `tools.trusted_origins` (or AGENTBATCH_TOOLS_TRUSTED_ORIGINS, comma-separated), as origins. */
export function toolsSection(file: ConfigFile, env: Env): ToolsConfig {
  const raw = env.AGENTBATCH_TOOLS_TRUSTED_ORIGINS?.split(",") ?? file.tools?.trusted_origins ?? [];
  const trustedOrigins = raw
    .map((o) => o.trim())
    .filter(Boolean)
    .map((o) => {
      try {
        return new URL(o).origin;
      } catch {
        throw new Error(`config: tools.trusted_origins: ${JSON.stringify(o)} is not an origin URL`);
      }
    });
  return { trustedOrigins, concurrencyPerHost: file.tools?.concurrency_per_host || 16 };
}

/** `openai` / `anthropic`: the file's entry (else the default), with `<PREFIX>_BASE_URL` / `_API_KEY` over it when set. */
function builtInProvider(
  fromFile: ProviderConfig | undefined,
  env: Env,
  prefix: string,
  fallback: ProviderConfig,
): ProviderConfig {
  const p = fromFile ?? fallback;
  return {
    ...p,
    baseUrl: env[`${prefix}_BASE_URL`] || p.baseUrl,
    apiKey: env[`${prefix}_API_KEY`] || p.apiKey,
  };
}

export function webhooksSection(file: ConfigFile, env: Env): WebhookConfig {
  const w = file.webhooks ?? {};
  return {
    allowPrivateTargets: envFlag(env, "AGENTBATCH_WEBHOOK_ALLOW_PRIVATE") ?? w.allow_private_targets ?? false,
    allowHttp: envFlag(env, "AGENTBATCH_WEBHOOK_ALLOW_HTTP") ?? w.allow_http ?? false,
    timeoutMs: envNumber(env, "AGENTBATCH_WEBHOOK_TIMEOUT_MS") ?? w.timeout_ms ?? 10_000,
    dispatch: envFlag(env, "AGENTBATCH_WEBHOOK_DISPATCH") ?? w.dispatch !== false,
    retryBaseMs: envNumber(env, "AGENTBATCH_WEBHOOK_RETRY_BASE_MS") ?? w.retry_base_ms ?? 5_000,
    retryMaxMs: w.retry_max_ms ?? 3600_000,
    retryWindowMs: w.retry_window_ms ?? 24 * 3600_000,
    concurrency: w.concurrency ?? 32,
    perHostConcurrency: w.per_host_concurrency ?? 4,
    pollIntervalMs: w.poll_interval_ms ?? 2_000,
    caFile: env.AGENTBATCH_WEBHOOK_CA_FILE || w.ca_file || undefined,
  };
}

/**
 * The files backend: `AGENTBATCH_FILES_BACKEND` or the file's `files.backend`; by default the
 * database on PostgreSQL (a deployment needs nothing but PostgreSQL) and the data directory on SQLite.
 */
export function filesSection(file: ConfigFile, env: Env, db: string): FilesConfig {
  const raw = file.files ?? {};
  const backend =
    env.AGENTBATCH_FILES_BACKEND ?? raw.backend ?? (/^postgres(ql)?:/.test(db) ? "db" : "local");
  if (backend !== "local" && backend !== "db" && backend !== "s3") {
    throw new Error(
      `config: AGENTBATCH_FILES_BACKEND must be local, db or s3, got ${JSON.stringify(backend)}`,
    );
  }
  const bucket = env.AGENTBATCH_S3_BUCKET ?? raw.s3?.bucket;
  if (backend === "s3" && !bucket) {
    throw new Error("config: files.backend s3 needs files.s3.bucket (or AGENTBATCH_S3_BUCKET)");
  }
  const workspaceQuotaBytes = envNumber(env, "AGENTBATCH_WORKSPACE_QUOTA_BYTES") ?? raw.workspace_quota_bytes;
  const retentionDays = envNumber(env, "AGENTBATCH_FILE_RETENTION_DAYS") ?? raw.retention_days;
  const ingestStaleMs = envNumber(env, "AGENTBATCH_INGEST_STALE_MS") ?? raw.ingest_stale_ms;
  const quota = {
    ...(workspaceQuotaBytes ? { workspaceQuotaBytes } : {}),
    ...(retentionDays && retentionDays > 0 ? { retentionDays } : {}),
    ...(ingestStaleMs && ingestStaleMs > 0 ? { ingestStaleMs } : {}),
  };
  if (!bucket) return { backend, ...quota };
  return {
    backend,
    ...quota,
    s3: {
      bucket,
      prefix: env.AGENTBATCH_S3_PREFIX ?? raw.s3?.prefix ?? "",
      endpoint: env.AGENTBATCH_S3_ENDPOINT ?? raw.s3?.endpoint,
      region: env.AWS_REGION ?? raw.s3?.region,
      // AWS_ACCESS_KEY_ID in the environment wins: the SDK's credential chain then reads it.
      accessKeyId: env.AWS_ACCESS_KEY_ID ? undefined : raw.s3?.access_key_id,
      secretAccessKey: env.AWS_ACCESS_KEY_ID ? undefined : raw.s3?.secret_access_key,
    },
  };
}

/**
 * Tracing from the standard OpenTelemetry variables: on when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
 * (used as is) or `OTEL_EXPORTER_OTLP_ENDPOINT` (+ `/v1/traces`) is set, unless `OTEL_SDK_DISABLED`.
 */
export function tracingSection(env: Env): TracingSettings {
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.replace(/\/+$/, "");
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || (base ? `${base}/v1/traces` : null);
  return {
    endpoint: truthy(env.OTEL_SDK_DISABLED) ? null : endpoint,
    serviceName: env.OTEL_SERVICE_NAME || "agentbatch",
    includeContent: envFlag(env, "AGENTBATCH_TRACE_CONTENT") ?? false,
    exportDelayMs: envNumber(env, "OTEL_BSP_SCHEDULE_DELAY") ?? 5_000,
  };
}

/** Per-key API limits: on by default; `AGENTBATCH_RATE_LIMIT_RPM=0` (or `enabled: false`) turns them off. */
export function rateLimitSection(file: ConfigFile, env: Env): RateLimitConfig {
  const r = file.rate_limit ?? {};
  const rpm = envNumber(env, "AGENTBATCH_RATE_LIMIT_RPM") ?? r.requests_per_minute ?? 6000;
  return { enabled: r.enabled !== false && rpm > 0, requestsPerMinute: rpm };
}

/** An absolute http(s) URL without query or fragment, trailing slash removed; else a start-up error. */
export function publicUrlSetting(value: string | undefined): string | undefined {
  if (!value) return undefined;
  let url: URL | null = null;
  try {
    url = new URL(value);
  } catch {
    /* reported below */
  }
  if (!url || !/^https?:$/.test(url.protocol) || url.search || url.hash) {
    throw new Error(
      `config: public_url (AGENTBATCH_PUBLIC_URL) must be an absolute http(s) URL like https://batch.example.com, got ${JSON.stringify(value)}`,
    );
  }
  return value.replace(/\/+$/, "");
}

/**
 * Which proxies' X-Forwarded-* headers are believed: none by default (a client could otherwise
 * pick its rate-limit address and the host of the links it is sent). `true`/`1`: any; a number
 * of hops; or addresses / CIDRs, comma-separated (`127.0.0.1,10.0.0.0/8`).
 */
export function trustProxySetting(value: boolean | number | string | undefined): boolean | number | string {
  if (value === undefined || value === "" || value === false || value === "0" || value === "false")
    return false;
  if (value === true || value === "true") return true;
  if (typeof value === "number") return value;
  if (/^\d+$/.test(value)) return Number(value);
  return value;
}
