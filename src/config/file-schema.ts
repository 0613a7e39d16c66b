/**
 * The JSON config file (`--config` / AGENTBATCH_CONFIG), described once with TypeBox and
 * validated with ajv: a misspelt key (`baseUrl` for `base_url`) or a value of the wrong type is a
 * start-up error naming the key, never a setting silently ignored.
 */
import { readFileSync } from "node:fs";
import { type Static, type TSchema, Type } from "@sinclair/typebox";
import { Ajv, type ErrorObject } from "ajv";

const Strict = <T extends Parameters<typeof Type.Object>[0]>(props: T) =>
  Type.Object(props, { additionalProperties: false });
const Count = Type.Integer({ minimum: 0 });
const Ms = Type.Integer({ minimum: 0 });
/**
 * Items per claim or outcomes per group commit: 0 would claim nothing, again and again (the
 * engine spinning on its claim), and one write transaction of more than 10,000 outcomes holds
 * SQLite's write lock for its whole length.
 */
const GroupSize = Type.Integer({ minimum: 1, maximum: 10_000 });

const ProviderSchema = Strict({
  type: Type.Optional(
    Type.Union([Type.Literal("openai-compatible"), Type.Literal("anthropic"), Type.Literal("simulated")]),
  ),
  base_url: Type.Optional(Type.String()),
  api_key: Type.Optional(Type.String()),
  rpm: Type.Optional(Count),
  tpm: Type.Optional(Count),
  max_concurrency: Type.Optional(Count),
  timeout_ms: Type.Optional(Ms),
});

const EngineSchema = Strict({
  concurrency: Type.Optional(Count),
  max_attempts: Type.Optional(Count),
  lease_ms: Type.Optional(Ms),
  claim_batch_size: Type.Optional(GroupSize),
  claim_ahead: Type.Optional(Type.Integer({ minimum: 0 })),
  commit_batch_size: Type.Optional(GroupSize),
  commit_interval_ms: Type.Optional(Ms),
  poll_interval_ms: Type.Optional(Ms),
  retry_base_ms: Type.Optional(Ms),
  retry_max_ms: Type.Optional(Ms),
  request_timeout_ms: Type.Optional(Ms),
  completion_window_ms: Type.Optional(Ms),
  quarantine_after: Type.Optional(Type.Integer({ minimum: 1 })),
  shutdown_grace_ms: Type.Optional(Ms),
  workspace_share: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1 })),
  item_attachment_bytes: Type.Optional(Count),
  cancel_aborts_in_flight: Type.Optional(Type.Boolean()),
  attachment_memory_bytes: Type.Optional(Type.Integer({ minimum: 1 })),
  thread: Type.Optional(Type.Union([Type.Boolean(), Type.Literal("auto")])),
});

const WebhooksSchema = Strict({
  allow_private_targets: Type.Optional(Type.Boolean()),
  allow_http: Type.Optional(Type.Boolean()),
  timeout_ms: Type.Optional(Ms),
  dispatch: Type.Optional(Type.Boolean()),
  retry_base_ms: Type.Optional(Ms),
  retry_max_ms: Type.Optional(Ms),
  retry_window_ms: Type.Optional(Ms),
  concurrency: Type.Optional(Count),
  per_host_concurrency: Type.Optional(Count),
  poll_interval_ms: Type.Optional(Ms),
  ca_file: Type.Optional(Type.String()),
});

const ToolsSchema = Strict({
  trusted_origins: Type.Optional(Type.Array(Type.String())),
  concurrency_per_host: Type.Optional(Count),
});

const FilesSchema = Strict({
  backend: Type.Optional(Type.Union([Type.Literal("local"), Type.Literal("db"), Type.Literal("s3")])),
  workspace_quota_bytes: Type.Optional(Type.Integer({ minimum: 1 })),
  retention_days: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  ingest_stale_ms: Type.Optional(Type.Integer({ minimum: 100 })),
  s3: Type.Optional(
    Strict({
      bucket: Type.String({ minLength: 1 }),
      prefix: Type.Optional(Type.String()),
      endpoint: Type.Optional(Type.String()),
      region: Type.Optional(Type.String()),
      access_key_id: Type.Optional(Type.String()),
      secret_access_key: Type.Optional(Type.String()),
    }),
  ),
});

const RateLimitSchema = Strict({
  enabled: Type.Optional(Type.Boolean()),
  requests_per_minute: Type.Optional(Count),
});

const Price = Strict({ input: Type.Number({ minimum: 0 }), output: Type.Number({ minimum: 0 }) });

export const ConfigFileSchema = Strict({
  providers: Type.Optional(Type.Record(Type.String(), ProviderSchema)),
  engine: Type.Optional(EngineSchema),
  webhooks: Type.Optional(WebhooksSchema),
  files: Type.Optional(FilesSchema),
  tools: Type.Optional(ToolsSchema),
  prices: Type.Optional(Type.Record(Type.String(), Price)),
  models: Type.Optional(Type.Record(Type.String(), Type.String({ pattern: "^[^/]+/.+$" }))),
  rate_limit: Type.Optional(RateLimitSchema),
  metrics_token: Type.Optional(Type.String({ minLength: 1 })),
  public_url: Type.Optional(Type.String({ pattern: "^https?://[^/?#]+(/[^?#]*)?$" })),
  trust_proxy: Type.Optional(Type.Union([Type.Boolean(), Type.Integer({ minimum: 0 }), Type.String()])),
  simulated_provider: Type.Optional(Type.Boolean()),
  body_limit_bytes: Type.Optional(Count),
  max_record_bytes: Type.Optional(Type.Integer({ minimum: 1 })),
  max_upload_bytes: Type.Optional(Count),
  max_attachment_bytes: Type.Optional(Count),
  max_rows_per_batch: Type.Optional(Count),
  max_rows_per_workspace: Type.Optional(Count),
});

export type ConfigFile = Static<typeof ConfigFileSchema>;

const validate = new Ajv({ allErrors: false, strict: false }).compile<ConfigFile>(
  ConfigFileSchema as TSchema,
);

/** `/providers/local` + `baseUrl` → `providers.local.baseUrl`. */
function keyPath(e: ErrorObject): string {
  const parts = e.instancePath.split("/").filter(Boolean);
  const extra = (e.params as { additionalProperty?: string; missingProperty?: string }) ?? {};
  const name = extra.additionalProperty ?? extra.missingProperty;
  if (name) parts.push(name);
  return parts.join(".") || "(the file)";
}

function describe(e: ErrorObject): string {
  const path = keyPath(e);
  if (e.keyword === "additionalProperties") return `${path} is not a known setting`;
  if (e.keyword === "required") return `${path} is required`;
  if (e.keyword === "pattern" && path.startsWith("models.")) return `${path} must be "provider/model"`;
  // A union's first branch would say "must be boolean" of "auto"'s misspellings.
  if (path === "engine.thread") return `${path} must be true, false or "auto"`;
  if (e.keyword === "enum" || e.keyword === "const" || e.keyword === "anyOf")
    return `${path} has an unknown value`;
  return `${path} ${e.message}`;
}

/** Reads and validates the config file; every problem is an Error starting `config:`. */
export function readConfigFile(file: string): ConfigFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`config: cannot read ${file}: ${(err as Error).message}`);
  }
  if (!validate(raw)) throw new Error(`config: ${file}: ${describe((validate.errors as ErrorObject[])[0])}`);
  return raw;
}
