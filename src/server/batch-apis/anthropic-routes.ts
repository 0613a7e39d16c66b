import { Readable } from "node:stream";
import { newAnthropicBatchId } from "../../domain/ids.js";
import type { ApiBatch } from "../../store/api-batches.js";
import type { Store } from "../../store/types.js";
import type { ApiPlugin, ApiReply, ApiRequest } from "../api-plugin.js";
import { keyFromHeaders, workspaceOf } from "../auth.js";
import type { AppContext } from "../context.js";
import { errorHandlerFor } from "../error-layer/handlers.js";
import { IdParams, NoBody } from "../schemas/common.js";
import { baseUrl, type RequestUrl } from "../wire/envelope.js";
import { batchNotFound, invalidApiKey, invalidRequest } from "./anthropic-errors.js";
import { ANTHROPIC_BATCH_AGENT, parseBatchRequests } from "./anthropic-params.js";
import { CreateBody, ListQuery } from "./anthropic-schemas.js";
import { messageBatchObject, processingStatus, resultLine } from "./anthropic-wire.js";
import { routeModel } from "./model-routing.js";
import { requestItem } from "./openai-input.js";

const tags = ["Anthropic Message Batches API"];

const createSchema = { tags, summary: "Create a Message Batch", body: CreateBody };
const listSchema = { tags, summary: "List Message Batches", querystring: ListQuery };
const getSchema = { tags, summary: "Retrieve a Message Batch", params: IdParams };
const cancelSchema = { tags, summary: "Cancel a Message Batch", params: IdParams, body: NoBody };
const deleteSchema = { tags, summary: "Delete an ended Message Batch", params: IdParams };
const resultsSchema = {
  tags,
  summary: "Stream the results of an ended Message Batch (JSONL)",
  params: IdParams,
};

/** Items per keyset page while streaming results. */
const RESULTS_PAGE = 1000;

/**
 * The Anthropic Message Batches API (register under `/v1`) at `/v1/messages/batches`, for the
 * official SDK with only `baseURL` and `apiKey` changed: every error in Anthropic's shape.
 * Batches are ordinary batches of the one store and engine.
 */
export const anthropicBatchApi: ApiPlugin = async (app, { ctx }) => {
  app.setErrorHandler(errorHandlerFor("anthropic"));
  app.addHook("onRequest", async (request) => {
    request.workspace = await workspaceOf(ctx.keys, keyFromHeaders(request.headers), {
      missing: invalidApiKey,
      invalid: invalidApiKey,
    });
  });
  // The JSON body is parsed whole (Anthropic's shape has no file upload), so it is capped
  // well below the upload limit: parsed objects take several times the raw size in memory.
  const bodyLimit = Math.min(ctx.config.maxUploadBytes, 64 * 1024 * 1024);
  app.post("/messages/batches", { schema: createSchema, bodyLimit }, (request) => createBatch(ctx, request));
  app.get("/messages/batches", { schema: listSchema }, (request) => listBatches(ctx, request));
  app.get("/messages/batches/:id", { schema: getSchema }, async (request) =>
    present(ctx, await batchOf(ctx, request.workspace.id, request.params.id), request),
  );
  app.post("/messages/batches/:id/cancel", { schema: cancelSchema }, (request) => cancelBatch(ctx, request));
  app.delete("/messages/batches/:id", { schema: deleteSchema }, (request) => deleteBatch(ctx, request));
  app.get("/messages/batches/:id/results", { schema: resultsSchema }, (request, reply) =>
    streamResults(ctx, request, reply),
  );
};

async function batchOf(ctx: AppContext, workspaceId: string, id: string): Promise<ApiBatch> {
  const ab = await ctx.store.apiBatches.get(workspaceId, id, "anthropic");
  if (!ab) throw batchNotFound(id);
  return ab;
}

async function present(ctx: AppContext, ab: ApiBatch, request: RequestUrl) {
  const counts = ab.batch.failed > 0 ? await ctx.store.items.countFailedByCode(ab.batch.id) : new Map();
  return messageBatchObject(ab, counts, baseUrl(request, ctx.config.publicUrl));
}

async function createBatch(ctx: AppContext, request: ApiRequest<typeof createSchema>) {
  const { store, config, signals } = ctx;
  const parsed = parseBatchRequests(
    request.body.requests,
    (model) => routeModel(model, config.models, ctx.providers),
    config.maxRecordBytes,
  );
  const now = Date.now();
  const id = newAnthropicBatchId();
  const items = parsed.map((p) => requestItem(p.customId, p.request, ANTHROPIC_BATCH_AGENT));
  const ab = await store.apiBatches.create(
    {
      id,
      workspaceId: request.workspace.id,
      agentId: ANTHROPIC_BATCH_AGENT,
      name: null,
      webhook: null,
      metadata: null,
      createdAt: now,
      expiresAt: now + config.engine.completionWindowMs,
    },
    {
      shape: "anthropic",
      endpoint: "/v1/messages",
      inputFileId: null,
      completionWindow: null,
      lineErrors: [],
    },
    items.length,
    [items],
    now,
  );
  request.log.info({ batch_id: id, total: items.length }, "anthropic message batch created");
  signals.notifyWork();
  signals.notifyBatchChanged({ batchIds: [id], transitions: [] });
  return present(ctx, ab, request);
}

async function listBatches(ctx: AppContext, request: ApiRequest<typeof listSchema>) {
  const { before_id, after_id, limit } = request.query;
  if (before_id && after_id) throw invalidRequest("before_id and after_id cannot both be given");
  const page = await ctx.store.apiBatches.list(request.workspace.id, "anthropic", {
    limit,
    beforeId: before_id,
    afterId: after_id,
  });
  const data = [];
  for (const ab of page.rows) data.push(await present(ctx, ab, request));
  return { data, has_more: page.hasMore, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
}

async function cancelBatch(ctx: AppContext, request: ApiRequest<typeof cancelSchema>) {
  const workspaceId = request.workspace.id;
  const ab = await batchOf(ctx, workspaceId, request.params.id);
  const now = Date.now();
  const result = await ctx.store.batches.cancel(workspaceId, ab.batch.id, now);
  if (result.kind === "not_found") throw batchNotFound(request.params.id);
  if (result.kind === "ok" && result.changed) {
    await ctx.store.apiBatches.markCancelRequested(ab.batch.id, now);
    ctx.signals.notifyBatchChanged({ batchIds: [ab.batch.id], transitions: result.transitions });
  }
  // Cancelling an ended batch changes nothing, as with Anthropic: the batch is returned as it is.
  return present(ctx, (await ctx.store.apiBatches.get(workspaceId, ab.batch.id, "anthropic")) ?? ab, request);
}

async function deleteBatch(ctx: AppContext, request: ApiRequest<typeof deleteSchema>) {
  const ab = await batchOf(ctx, request.workspace.id, request.params.id);
  if (processingStatus(ab) !== "ended") {
    throw invalidRequest(
      `Message batch ${ab.batch.id} is still ${processingStatus(ab)}; cancel it and wait for it to end before deleting it`,
    );
  }
  await ctx.store.apiBatches.markDeleted(ab.batch.id, Date.now());
  return { id: ab.batch.id, type: "message_batch_deleted" };
}

async function streamResults(
  ctx: AppContext,
  request: ApiRequest<typeof resultsSchema>,
  reply: ApiReply<typeof resultsSchema>,
) {
  const ab = await batchOf(ctx, request.workspace.id, request.params.id);
  if (processingStatus(ab) !== "ended") {
    throw invalidRequest(
      `Message batch ${ab.batch.id} has not ended yet; its results are available once processing_status is ended`,
    );
  }
  return reply.type("application/x-jsonl").send(Readable.from(resultLines(ctx.store, ab.batch.id)));
}

/** Every result of a batch as JSONL, read a page at a time (never the whole batch in memory). */
async function* resultLines(store: Store, batchId: string): AsyncIterable<string> {
  let afterSeq = -1;
  for (;;) {
    const items = await store.items.listAfter(batchId, afterSeq, RESULTS_PAGE);
    if (items.length === 0) return;
    let chunk = "";
    for (const it of items) chunk += `${JSON.stringify(resultLine(it))}\n`;
    yield chunk;
    afterSeq = items[items.length - 1].seq;
  }
}
