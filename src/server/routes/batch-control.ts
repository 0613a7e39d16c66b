import type { FastifyBaseLogger } from "fastify";
import { ACTIVE_BATCH_STATUSES, type BatchStatus, isTerminalBatchStatus } from "../../domain/statuses.js";
import type { StateChangeResult } from "../../store/types.js";
import type { ApiPlugin, ApiReply, ApiRequest } from "../api-plugin.js";
import type { AppContext } from "../context.js";
import { conflict, notFound } from "../errors.js";
import { ResultParams, StatusMapQuery } from "../schemas/batches.js";
import { IdParams, NoBody, PageQuery } from "../schemas/common.js";
import { batchToWire, itemToWire } from "../wire/batches.js";
import { ok, pageAnswer } from "../wire/envelope.js";

const tags = ["Batches"];

const activeSchema = {
  tags,
  summary: "List active batches (validating, in_progress, paused, cancelling)",
  querystring: PageQuery,
};
const pauseSchema = {
  tags,
  summary: "Pause a batch: no new request starts; requests already running finish",
  params: IdParams,
  body: NoBody,
};
const resumeSchema = { tags, summary: "Resume a paused batch", params: IdParams, body: NoBody };
const retrySchema = {
  tags,
  summary: "Run the failed requests of a finished batch again (successes are kept)",
  params: IdParams,
  body: NoBody,
};
const resultSchema = {
  tags,
  summary: "Get the result of one request by its custom_id",
  params: ResultParams,
};
const statusMapSchema = {
  tags,
  summary: "custom_ids grouped by request status (pending, processing, awaiting_tool_calls, success, failed)",
  description: "`limit` and `offset` apply to each status list; `counts` has the full count of each status.",
  params: IdParams,
  querystring: StatusMapQuery,
};

/**
 * Seed 004's job control (pause, resume, the active list), retry of the failed requests of a
 * finished batch, one result by custom_id, and seed 002's status map.
 */
export const batchControlRoutes: ApiPlugin = async (app, { ctx }) => {
  app.get("/batches/active", { schema: activeSchema }, (request) => listActive(ctx, request));
  app.post("/batches/:id/pause", { schema: pauseSchema }, (request) => pauseBatch(ctx, request));
  app.post("/batches/:id/resume", { schema: resumeSchema }, (request) => resumeBatch(ctx, request));
  app.post("/batches/:id/retry", { schema: retrySchema }, (request, reply) =>
    retryBatch(ctx, request, reply),
  );
  app.get("/batches/:id/results/:custom_id", { schema: resultSchema }, (request) => getResult(ctx, request));
  app.get("/batches/:id/status-map", { schema: statusMapSchema }, (request) => statusMap(ctx, request));
};

/**
 * A store state change as the answer: 404, 409 saying why the status forbids it, or the batch
 * (signalled to the engine and the streams when it moved).
 */
function answer(
  ctx: AppContext,
  log: FastifyBaseLogger,
  result: StateChangeResult,
  what: string,
  conflictMessage: (status: BatchStatus, id: string) => string,
) {
  if (result.kind === "not_found") throw notFound("Batch");
  if (result.kind === "conflict") throw conflict(conflictMessage(result.batch.status, result.batch.id));
  if (result.changed) {
    log.info({ batch_id: result.batch.id }, `batch ${what}`);
    ctx.signals.notifyBatchChanged({ batchIds: [result.batch.id], transitions: result.transitions });
  }
  return ok(batchToWire(result.batch));
}

async function listActive(ctx: AppContext, request: ApiRequest<typeof activeSchema>) {
  const { limit, offset } = request.query;
  const page = await ctx.store.batches.list(request.workspace.id, {
    limit,
    offset,
    statuses: [...ACTIVE_BATCH_STATUSES],
  });
  return pageAnswer(request, page, batchToWire, ctx.config.publicUrl);
}

async function pauseBatch(ctx: AppContext, request: ApiRequest<typeof pauseSchema>) {
  const result = await ctx.store.batches.pause(request.workspace.id, request.params.id, Date.now());
  return answer(
    ctx,
    request.log,
    result,
    "paused",
    (status, id) => `Batch ${id} is ${status}; only an in_progress batch can be paused`,
  );
}

async function resumeBatch(ctx: AppContext, request: ApiRequest<typeof resumeSchema>) {
  const result = await ctx.store.batches.resume(request.workspace.id, request.params.id, Date.now());
  const response = answer(
    ctx,
    request.log,
    result,
    "resumed",
    (status, id) => `Batch ${id} is ${status}; only a paused batch can be resumed`,
  );
  if (result.kind === "ok" && result.changed) ctx.signals.notifyWork();
  return response;
}

async function retryBatch(
  ctx: AppContext,
  request: ApiRequest<typeof retrySchema>,
  reply: ApiReply<typeof retrySchema>,
) {
  const now = Date.now();
  const result = await ctx.store.batches.retryFailed(
    request.workspace.id,
    request.params.id,
    now,
    now + ctx.config.engine.completionWindowMs,
  );
  const response = answer(ctx, request.log, result, "retried", (status, id) =>
    isTerminalBatchStatus(status)
      ? `Batch ${id} is ${status} and has no failed requests to retry`
      : `Batch ${id} is ${status}; only a completed, cancelled or failed batch can be retried`,
  );
  ctx.signals.notifyWork();
  return reply.code(202).send(response);
}

async function getResult(ctx: AppContext, request: ApiRequest<typeof resultSchema>) {
  const batch = await ctx.store.batches.get(request.workspace.id, request.params.id);
  if (!batch) throw notFound("Batch");
  const item = await ctx.store.items.getByCustomId(batch.id, request.params.custom_id);
  if (!item) throw notFound(`Request ${request.params.custom_id}`);
  return ok(itemToWire(item));
}

async function statusMap(ctx: AppContext, request: ApiRequest<typeof statusMapSchema>) {
  const batch = await ctx.store.batches.get(request.workspace.id, request.params.id);
  if (!batch) throw notFound("Batch");
  const { limit, offset } = request.query;
  const map = await ctx.store.items.statusMap(batch.id, { limit, offset });
  return ok({
    batch_id: batch.id,
    status: batch.status,
    counts: {
      pending: batch.pending,
      processing: batch.processing,
      awaiting_tool_calls: batch.awaiting,
      success: batch.succeeded,
      failed: batch.failed,
    },
    limit,
    offset,
    ...map,
  });
}
