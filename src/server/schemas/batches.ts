/** Request schemas of the Batch API (seed 000 and its extensions). */
import { Type } from "@sinclair/typebox";
import { ITEM_STATUSES } from "../../domain/statuses.js";
import { BATCH_EVENTS, REQUEST_EVENTS } from "../../domain/webhook-events.js";
import { Body, ClientObject, Nullable, PageQuery, Query, StringEnum } from "./common.js";

/** A request's own webhook (extension, like seed 002's per-run callback): request events only. */
export const RequestWebhookBody = Body({
  url: Type.String({ minLength: 1, maxLength: 2048, description: "Webhook URL (https)" }),
  events: Type.Optional(
    Type.Array(StringEnum(REQUEST_EVENTS), {
      uniqueItems: true,
      description: "Default: both request.succeeded and request.failed",
    }),
  ),
  secret: Type.Optional(Nullable(Type.String({ maxLength: 255 }))),
});

export const BatchRequestItem = Body({
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
  context: Type.Optional(Nullable(ClientObject("Context for this request, returned with its result"))),
  metadata: Type.Optional(Nullable(ClientObject("Your data for this request, returned with its result"))),
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

export const WebhookBody = Body({
  url: Type.String({ minLength: 1, maxLength: 2048, description: "Webhook URL (https)" }),
  events: Type.Optional(
    Type.Array(StringEnum([...BATCH_EVENTS, ...REQUEST_EVENTS] as const), {
      uniqueItems: true,
      description:
        'Events to notify: completed, failed, cancelled, request.succeeded, request.failed (default: ["completed", "failed"])',
    }),
  ),
  secret: Type.Optional(Nullable(Type.String({ maxLength: 255 }))),
});

export const CreateBatchBody = Body({
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
  metadata: Type.Optional(
    Nullable(ClientObject("Your data for the batch, returned with it and in its webhooks")),
  ),
  context: Type.Optional(
    Nullable(ClientObject('Context of the batch (seed 003, e.g. {"source": "news-aggregator"})')),
  ),
});

export const IdempotencyHeaders = Type.Object({
  "idempotency-key": Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
});

export const ListBatchesQuery = Query({
  ...PageQuery.properties,
  status: Type.Optional(
    Type.String({
      description: "Filter by status; several may be given separated by commas (in_progress,paused)",
    }),
  ),
});

export const ListResultsQuery = Query({
  ...PageQuery.properties,
  status: Type.Optional(StringEnum(ITEM_STATUSES)),
  format: Type.Optional(
    StringEnum(["json", "jsonl", "csv"] as const, {
      description: "Export every result (not paginated) as a streamed download in this format",
    }),
  ),
});

export const ResultParams = Type.Object({ id: Type.String(), custom_id: Type.String() });

export const StatusMapQuery = PageQuery;

/** The progress streams' query (SSE and WebSocket). */
export const EventsQuery = Query({
  last_event_id: Type.Optional(
    Type.Integer({
      minimum: 0,
      description: "Resume after this event (the Last-Event-ID header does the same)",
    }),
  ),
  api_key: Type.Optional(Type.String({ description: "The API key, for browsers that cannot send headers" })),
});
