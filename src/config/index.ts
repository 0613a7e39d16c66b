import { dirname } from "node:path";
import { DEFAULT_MAX_RECORD_BYTES, defaultPrices } from "./defaults.js";
import { type ConfigFile, readConfigFile } from "./file-schema.js";
import {
  engineSection,
  envNumber,
  filesSection,
  providersSection,
  publicUrlSetting,
  rateLimitSection,
  toolsSection,
  tracingSection,
  trustProxySetting,
  webhooksSection,
} from "./sections.js";
import type { Config, ConfigOverrides } from "./types.js";

export { defaultEngineConfig, defaultPrices, ENGINE_THREAD_AUTO_CONCURRENCY } from "./defaults.js";
export type * from "./types.js";

/** Where files live by default: beside the SQLite database, so one folder holds a whole instance. */
function defaultDataDir(db: string): string {
  const sqlitePath = db.startsWith("sqlite:") ? db.slice("sqlite:".length) : null;
  return sqlitePath && sqlitePath !== ":memory:" ? dirname(sqlitePath) : "./data";
}

/**
 * Builds the configuration from, in rising precedence: defaults, the JSON config file
 * (`--config` / AGENTBATCH_CONFIG, validated: unknown keys are an error), environment variables,
 * and command-line flags.
 */
export function loadConfig(overrides: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const path = overrides.configFile ?? env.AGENTBATCH_CONFIG;
  const file: ConfigFile = path ? readConfigFile(path) : {};
  const db = overrides.db ?? env.AGENTBATCH_DB ?? "sqlite:./data/agentbatch.db";
  return {
    db,
    tracing: tracingSection(env),
    files: filesSection(file, env, db),
    dataDir: env.AGENTBATCH_DATA_DIR ?? defaultDataDir(db),
    maxUploadBytes:
      envNumber(env, "AGENTBATCH_MAX_UPLOAD_BYTES") ?? file.max_upload_bytes ?? 512 * 1024 * 1024,
    maxAttachmentBytes:
      envNumber(env, "AGENTBATCH_MAX_ATTACHMENT_BYTES") ?? file.max_attachment_bytes ?? 20 * 1024 * 1024,
    maxRowsPerBatch: envNumber(env, "AGENTBATCH_MAX_ROWS_PER_BATCH") ?? file.max_rows_per_batch ?? 2_000_000,
    maxRowsPerWorkspace:
      envNumber(env, "AGENTBATCH_MAX_ROWS_PER_WORKSPACE") ?? file.max_rows_per_workspace ?? 10_000_000,
    port: overrides.port ?? envNumber(env, "PORT") ?? envNumber(env, "AGENTBATCH_PORT") ?? 8080,
    host: overrides.host ?? env.AGENTBATCH_HOST ?? "127.0.0.1",
    publicUrl: publicUrlSetting(env.AGENTBATCH_PUBLIC_URL || file.public_url),
    trustProxy: trustProxySetting(env.AGENTBATCH_TRUST_PROXY ?? file.trust_proxy),
    bodyLimitBytes: file.body_limit_bytes ?? 10 * 1024 * 1024,
    maxRecordBytes:
      envNumber(env, "AGENTBATCH_MAX_RECORD_BYTES") ?? file.max_record_bytes ?? DEFAULT_MAX_RECORD_BYTES,
    providers: providersSection(file, env),
    engine: engineSection(file, env),
    webhooks: webhooksSection(file, env),
    tools: toolsSection(file, env),
    prices: { ...defaultPrices, ...(file.prices ?? {}) },
    models: { ...(file.models ?? {}) },
    bootstrapApiKey: env.AGENTBATCH_API_KEY || undefined,
    logLevel: env.AGENTBATCH_LOG_LEVEL ?? env.LOG_LEVEL ?? "info",
    progress: { keepaliveMs: 30_000, minIntervalMs: 250, pollMs: 2_000 },
    rateLimit: rateLimitSection(file, env),
    metricsToken: env.AGENTBATCH_METRICS_TOKEN || file.metrics_token || undefined,
  };
}
