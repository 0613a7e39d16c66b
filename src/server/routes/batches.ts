import { BATCH_STATUSES, type BatchStatus } from "../../domain/statuses.js";
import type { ApiPlugin, ApiReply, ApiRequest } from "../api-plugin.js";
import { submitBatch } from "../batch-submit.js";
import type { AppContext } from "../context.js";
import { badRequest, conflict, notFound } from "../errors.js";
import { sendResultsExport } from "../results-export.js";
import {
  CreateBatchBody,
  IdempotencyHeaders,
  ListBatchesQuery,
  ListResultsQuery,
} from "../schemas/batches.js";
import { IdParams, NoBody } from "../schemas/common.js";
import { batchToWire, itemToWire } from "../wire/batches.js";
import { ok, pageAnswer } from "../wire/envelope.js";

const tags = ["Batches"];

const createSchema = {
  tags,
  summary: "Create a batch",
  description:
    "Send `requests` (at most 1000) or `file_id` (an uploaded input file). An `Idempotency-Key` header (or a client-chosen `id`) makes a retried create return the same batch (header `idempotent-replayed: true`); the same key or id with a different body is 409.",
  body: CreateBatchBody,
  headers: IdempotencyHeaders,
};
const listSchema = { tags, summary: "List batches", querystring: ListBatchesQuery };
const getSchema = { tags, summary: "Get a batch", params: IdParams };
const resultsSchema = {
  tags,
  summary: "Get the results of a batch's requests",
  params: IdParams,
  querystring: ListResultsQuery,
};
const cancelSchema = { tags, summary: "Cancel a batch", params: IdParams, body: NoBody };

/** Seed 000's batch routes: create, list, get, results (paginated or exported) and cancel. */
export const batchRoutes: ApiPlugin = async (app, { ctx }) => {
  app.post("/batches", { schema: createSchema }, (request, reply) => createBatch(ctx, request, reply));
  app.get("/batches", { schema: listSchema }, (request) => listBatches(ctx, request));
  app.get("/batches/:id", { schema: getSchema }, (request) => getBatch(ctx, request));
  app.get("/batches/:id/results", { schema: resultsSchema }, (request, reply) =>
    listResults(ctx, request, reply),
  );
  app.post("/batches/:id/cancel", { schema: cancelSchema }, (request, reply) =>
    cancelBatch(ctx, request, reply),
  );
};

/** `status=in_progress,paused` (or repeated) → a checked list of statuses. */
export function parseStatusFilter(raw: string | undefined): BatchStatus[] | undefined {
  if (!raw) return undefined;
  const statuses = raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const s of statuses) {
    if (!(BATCH_STATUSES as readonly string[]).includes(s)) {
      throw badRequest(`status: "${s}" is not a batch status; use one of ${BATCH_STATUSES.join(", ")}`);
    }
  }
  return statuses as BatchStatus[];
}

async function createBatch(
  ctx: AppContext,
  request: ApiRequest<typeof createSchema>,
  reply: ApiReply<typeof createSchema>,
) {
  const { batch, replayed } = await submitBatch(ctx, request.workspace, request.body, {
    idempotencyKey: request.headers["idempotency-key"],
  });
  if (replayed) reply.header("idempotent-replayed", "true");
  else request.log.info({ batch_id: batch.id, total: batch.total }, "batch created");
  return reply.code(202).send(ok(batchToWire(batch)));
}

async function listBatches(ctx: AppContext, request: ApiRequest<typeof listSchema>) {
  const { limit, offset, status } = request.query;
  const page = await ctx.store.batches.list(request.workspace.id, {
    limit,
    offset,
    statuses: parseStatusFilter(status),
  });
  return pageAnswer(request, page, batchToWire, ctx.config.publicUrl);
}

async function getBatch(ctx: AppContext, request: ApiRequest<typeof getSchema>) {
  const batch = await ctx.store.batches.get(request.workspace.id, request.params.id);
  if (!batch) throw notFound("Batch");
  return ok(batchToWire(batch));
}

async function listResults(
  ctx: AppContext,
  request: ApiRequest<typeof resultsSchema>,
  reply: ApiReply<typeof resultsSchema>,
) {
  const batch = await ctx.store.batches.get(request.workspace.id, request.params.id);
  if (!batch) throw notFound("Batch");
  const { limit, offset, status, format } = request.query;
  if (format) {
    refusePagingOfExport(request.url, format);
    return sendResultsExport(ctx.store, reply, batch, format, status);
  }
  const page = await ctx.store.items.list(batch.id, { limit, offset, status });
  return pageAnswer(request, page, itemToWire, ctx.config.publicUrl);
}

/**
 * An export has every result (`status` filters it), so `limit` / `offset` sent with `format` are
 * a 400 naming them rather than ignored. The raw query is read: the schema fills in defaults.
 */
function refusePagingOfExport(url: string, format: string): void {
  const sent = new URLSearchParams(url.slice(url.indexOf("?") + 1));
  for (const name of ["limit", "offset"]) {
    if (sent.has(name)) {
      throw badRequest(
        `${name}: an export (format=${format}) has every result and is not paginated; drop ${name}, or format for a page`,
      );
    }
  }
}

async function cancelBatch(
  ctx: AppContext,
  request: ApiRequest<typeof cancelSchema>,
  reply: ApiReply<typeof cancelSchema>,
) {
  const result = await ctx.store.batches.cancel(request.workspace.id, request.params.id, Date.now());
  if (result.kind === "not_found") throw notFound("Batch");
  if (result.kind === "conflict") {
    throw conflict(
      `Batch ${result.batch.id} is ${result.batch.status}; only an in_progress or paused batch can be cancelled`,
    );
  }
  if (result.changed) {
    request.log.info({ batch_id: result.batch.id }, "batch cancelled");
    ctx.signals.notifyBatchChanged({ batchIds: [result.batch.id], transitions: result.transitions });
  }
  return reply.code(202).send(ok(batchToWire(result.batch)));
}
