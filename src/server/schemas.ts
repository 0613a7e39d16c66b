/**
 * Request schemas: the single source that validates requests, types the handlers and
 * documents the API in /openapi.json.
 */
import { type TSchema, Type } from "@sinclair/typebox";

/** A value of `schema` or null (JSON Schema type arrays keep validation messages readable). */
export function Nullable<T extends TSchema>(schema: T) {
  return Type.Unsafe<T["static"] | null>({ ...schema, type: [schema.type, "null"] });
}

export function StringEnum<const T extends readonly string[]>(
  values: T,
  options: Record<string, unknown> = {},
) {
  return Type.Unsafe<T[number]>({ type: "string", enum: [...values], ...options });
}

export const BATCH_STATUSES = [
  "validating",
  "in_progress",
  "paused",
  "completed",
  "failed",
  "cancelling",
  "cancelled",
] as const;
export const ITEM_STATUSES = ["pending", "processing", "success", "failed"] as const;
export const BATCH_WEBHOOK_EVENTS = ["completed", "failed", "cancelled"] as const;
/** Per-request events (extension): a batch webhook opts into them by naming them in `events`. */
export const REQUEST_WEBHOOK_EVENTS = ["request.succeeded", "request.failed"] as const;
export const WEBHOOK_DELIVERY_STATUSES = ["pending", "delivered", "failed"] as const;

/** A request's own webhook (extension, like seed 002's per-run callback): request events only. */
export const RequestWebhookBody = Type.Object({
  url: Type.String({ minLength: 1, maxLength: 2048, description: "Webhook URL (https)" }),
  events: Type.Optional(
    Type.Array(StringEnum(REQUEST_WEBHOOK_EVENTS), {
      uniqueItems: true,
      description: "Default: both request.succeeded and request.failed",
    }),
  ),
  secret: Type.Optional(Nullable(Type.String({ maxLength: 255 }))),
});

export const PageQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 50, description: "Results per page (max 1000)" }),
  offset: Type.Integer({
    minimum: 0,
    maximum: 2_147_483_647,
    default: 0,
    description: "Number of results to skip",
  }),
});

export const IdParams = Type.Object({ id: Type.String({ description: "The resource id" }) });

export const BatchRequestItem = Type.Object({
  custom_id: Type.String({
    minLength: 1,
    maxLength: 256,
    description: "Your correlation key, unique in the batch",
  }),
  message: Type.String({ minLength: 1, description: "The message to send" }),
  agent_id: Type.Optional(Nullable(Type.String({ description: "Override agent for this request" }))),
  external_user_id: Type.Optional(Nullable(Type.String({ maxLength: 256 }))),
  name: Type.Optional(Nullable(Type.String({ maxLength: 256, description: "Name for the created chat" }))),
  attached_file_uuids: Type.Optional(Nullable(Type.Array(Type.String(), { maxItems: 20 }))),
  history_id: Type.Optional(
    Nullable(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: "Chat to continue" })),
  ),
  webhook: Type.Optional(Nullable(RequestWebhookBody)),
});

/** Extension fields of a batch create: a client-chosen id and input from an uploaded file. */
const BatchFileFields = {
  id: Type.Optional(
    Type.String({
      pattern: "^[A-Za-z0-9_-]{1,128}$",
      description:
        "Client-chosen batch id (1-128 of A-Z a-z 0-9 _ -); repeating a create with the same id and body returns the same batch",
    }),
  ),
  file_id: Type.Optional(
    Type.String({
      minLength: 1,
      description: "An uploaded batch input file (POST /files), instead of requests",
    }),
  ),
  input_format: Type.Optional(
    StringEnum(["csv", "json", "jsonl"] as const, {
      description: "Format of the file; by default from its name, content type or first bytes",
    }),
  ),
  column_mapping: Type.Optional(
    Type.Record(Type.String(), Type.String({ minLength: 1 }), {
      description:
        "Request field → file column: custom_id, message, agent_id, external_user_id, name, history_id, context.<key>, metadata.<key>",
    }),
  ),
  on_invalid_rows: Type.Optional(
    StringEnum(["fail", "skip"] as const, {
      description:
        "fail (default): any invalid row fails the batch; skip: invalid rows are left out and reported",
    }),
  ),
};

export const WebhookBody = Type.Object({
  url: Type.String({ minLength: 1, maxLength: 2048, description: "Webhook URL (https)" }),
  events: Type.Optional(
    Type.Array(StringEnum([...BATCH_WEBHOOK_EVENTS, ...REQUEST_WEBHOOK_EVENTS] as const), {
      uniqueItems: true,
      description:
        'Events to notify: completed, failed, cancelled, request.succeeded, request.failed (default: ["completed", "failed"])',
    }),
  ),
  secret: Type.Optional(Nullable(Type.String({ maxLength: 255 }))),
});

export const WebhookDeliveryParams = Type.Object({
  id: Type.String({ description: "The batch id" }),
  delivery_id: Type.String({ description: "The delivery id (the webhook-id header)" }),
});

export const ListWebhookDeliveriesQuery = Type.Composite([
  PageQuery,
  Type.Object({ status: Type.Optional(StringEnum(WEBHOOK_DELIVERY_STATUSES)) }),
]);

export const CreateBatchBody = Type.Object({
  agent_id: Type.String({ minLength: 1, description: "Default agent for all requests (must be published)" }),
  requests: Type.Optional(
    Type.Array(BatchRequestItem, {
      minItems: 1,
      maxItems: 1000,
      description: "The requests (at most 1000); for more, upload a file and send file_id instead",
    }),
  ),
  ...BatchFileFields,
  webhook: Type.Optional(Nullable(WebhookBody)),
  name: Type.Optional(Nullable(Type.String({ maxLength: 256 }))),
  metadata: Type.Optional(Nullable(Type.Record(Type.String(), Type.Unknown()))),
});

export const ListBatchesQuery = Type.Composite([
  PageQuery,
  Type.Object({
    status: Type.Optional(
      Type.String({
        description: "Filter by status; several may be given separated by commas (in_progress,paused)",
      }),
    ),
  }),
]);

export const ListResultsQuery = Type.Composite([
  PageQuery,
  Type.Object({
    status: Type.Optional(StringEnum(ITEM_STATUSES)),
    format: Type.Optional(
      StringEnum(["json", "jsonl", "csv"] as const, {
        description: "Export every result (not paginated) as a streamed download in this format",
      }),
    ),
  }),
]);

const AgentFields = {
  name: Type.String({ minLength: 1, maxLength: 256 }),
  description: Nullable(Type.String({ maxLength: 4000 })),
  model: Type.String({
    minLength: 3,
    maxLength: 256,
    description: "provider/model, e.g. simulated/echo or openai/gpt-4o-mini",
  }),
  system_prompt: Nullable(Type.String({ maxLength: 100_000 })),
  temperature: Nullable(Type.Number({ minimum: 0, maximum: 2 })),
  max_tokens: Nullable(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  settings: Type.Record(Type.String(), Type.Unknown(), { description: "Provider options" }),
};

export const CreateAgentBody = Type.Object({
  name: AgentFields.name,
  model: AgentFields.model,
  description: Type.Optional(AgentFields.description),
  system_prompt: Type.Optional(AgentFields.system_prompt),
  temperature: Type.Optional(AgentFields.temperature),
  max_tokens: Type.Optional(AgentFields.max_tokens),
  settings: Type.Optional(AgentFields.settings),
});

export const UpdateAgentBody = Type.Partial(Type.Object(AgentFields), { minProperties: 1 });
