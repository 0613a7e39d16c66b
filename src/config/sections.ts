/** Each section of the configuration from the validated file and the environment (which wins). */
import { defaultEngineConfig } from "./defaults.js";
import type { ConfigFile } from "./file-schema.js";
import type { EngineConfig, FilesConfig, ProviderConfig, TracingSettings, WebhookConfig } from "./types.js";

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

const ENGINE_ENV: [string, keyof EngineConfig][] = [
  ["AGENTBATCH_CONCURRENCY", "concurrency"],
  ["AGENTBATCH_MAX_ATTEMPTS", "maxAttempts"],
  ["AGENTBATCH_LEASE_MS", "leaseMs"],
  ["AGENTBATCH_POLL_MS", "pollIntervalMs"],
  ["AGENTBATCH_RETRY_BASE_MS", "retryBaseMs"],
  ["AGENTBATCH_RETRY_MAX_MS", "retryMaxMs"],
  ["AGENTBATCH_REQUEST_TIMEOUT_MS", "requestTimeoutMs"],
];

function snakeToCamel(s: string): string {
  return s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

export function engineSection(file: ConfigFile, env: Env): EngineConfig {
  const engine: EngineConfig = { ...defaultEngineConfig };
  for (const [k, v] of Object.entries(file.engine ?? {})) {
    if (v !== undefined) engine[snakeToCamel(k) as keyof EngineConfig] = v;
  }
  for (const [name, key] of ENGINE_ENV) {
    const v = envNumber(env, name);
    if (v !== undefined) engine[key] = v;
  }
  return engine;
}

/** The file's providers, plus the built-in `openai`, `anthropic` and `simulated` unless the file names them. */
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
  providers.openai ??= {
    type: "openai-compatible",
    baseUrl: env.OPENAI_BASE_URL ?? "https://api.openai.com/v1",
    apiKey: env.OPENAI_API_KEY,
  };
  providers.anthropic ??= {
    type: "anthropic",
    baseUrl: env.ANTHROPIC_BASE_URL ?? "https://api.anthropic.com",
    apiKey: env.ANTHROPIC_API_KEY,
  };
  providers.simulated ??= { type: "simulated" };
  return providers;
}

export function webhooksSection(file: ConfigFile, env: Env): WebhookConfig {
  const w = file.webhooks ?? {};
  return {
    allowPrivateTargets: truthy(w.allow_private_targets) || truthy(env.AGENTBATCH_WEBHOOK_ALLOW_PRIVATE),
    allowHttp: truthy(w.allow_http) || truthy(env.AGENTBATCH_WEBHOOK_ALLOW_HTTP),
    timeoutMs: envNumber(env, "AGENTBATCH_WEBHOOK_TIMEOUT_MS") ?? w.timeout_ms ?? 10_000,
    dispatch: env.AGENTBATCH_WEBHOOK_DISPATCH
      ? truthy(env.AGENTBATCH_WEBHOOK_DISPATCH)
      : w.dispatch !== false,
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
  if (!bucket) return { backend };
  return {
    backend,
    s3: {
      bucket,
      prefix: env.AGENTBATCH_S3_PREFIX ?? raw.s3?.prefix ?? "",
      endpoint: env.AGENTBATCH_S3_ENDPOINT ?? raw.s3?.endpoint,
      region: env.AWS_REGION ?? raw.s3?.region,
      accessKeyId: raw.s3?.access_key_id,
      secretAccessKey: raw.s3?.secret_access_key,
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
    includeContent: truthy(env.AGENTBATCH_TRACE_CONTENT),
    exportDelayMs: envNumber(env, "OTEL_BSP_SCHEDULE_DELAY") ?? 5_000,
  };
}
