import { Readable } from "node:stream";
import { Type } from "@sinclair/typebox";
import type { ErrorObject } from "ajv";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import type { ApiBatch } from "../../store/api-batches.js";
import type { Store } from "../../store/types.js";
import type { App } from "../app.js";
import { keyFromHeaders } from "../auth.js";
import type { AppContext } from "../context.js";
import { isMalformedUpload } from "../errors.js";
import { baseUrl } from "../wire/envelope.js";
import {
  ANTHROPIC_BATCH_AGENT,
  MAX_ANTHROPIC_REQUESTS,
  ParamsError,
  parseBatchRequests,
} from "./anthropic-params.js";
import { messageBatchObject, processingStatus, resultLine } from "./anthropic-wire.js";
import { routeModel } from "./model-routing.js";
import { requestItem } from "./openai-input.js";

/** An error in Anthropic's shape: `{"type": "error", "error": {"type", "message"}}`. */
export class AnthropicApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
    this.name = "AnthropicApiError";
  }
}

const invalid = (message: string) => new AnthropicApiError(400, "invalid_request_error", message);
const notFound = (id: string) =>
  new AnthropicApiError(404, "not_found_error", `No message batch with id ${id}`);

function anthropicErrorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const send = (status: number, type: string, message: string) =>
    reply.code(status).send({ type: "error", error: { type, message } });
  if (err instanceof AnthropicApiError) return send(err.statusCode, err.type, err.message);
  if (err instanceof ParamsError) return send(400, "invalid_request_error", err.message);
  if (err.validation) {
    const e = err.validation[0] as ErrorObject;
    const parts = e.instancePath.split("/").filter(Boolean);
    if (e.keyword === "required") parts.push((e.params as { missingProperty: string }).missingProperty);
    const path = parts.join(".") || "body";
    return send(
      400,
      "invalid_request_error",
      e.keyword === "required" ? `${path}: Field required` : `${path}: ${e.message}`,
    );
  }
  if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") return send(413, "request_too_large", err.message);
  if (isMalformedUpload(err))
    return send(400, "invalid_request_error", `Malformed multipart body: ${err.message}`);
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return send(err.statusCode, "invalid_request_error", err.message);
  }
  request.log.error({ err }, "unhandled error");
  return send(500, "api_error", "Internal server error");
}

const tags = ["Anthropic Message Batches API"];
const IdParams = Type.Object({ id: Type.String() });

const CreateBody = Type.Object({
  requests: Type.Array(
    Type.Object({
      custom_id: Type.String({ description: "1-64 characters of [a-zA-Z0-9_-], unique in the batch" }),
      params: Type.Record(Type.String(), Type.Unknown(), { description: "A Messages API request body" }),
    }),
    { minItems: 1, maxItems: MAX_ANTHROPIC_REQUESTS },
  ),
});

const ListQuery = Type.Object({
  before_id: Type.Optional(Type.String()),
  after_id: Type.Optional(Type.String()),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 20 }),
});

/** Items per keyset page while streaming results. */
const RESULTS_PAGE = 1000;

/** Every result of a batch as JSONL, read a page at a time (never the whole batch in memory). */
async function* resultLines(store: Store, batchId: string): AsyncIterable<string> {
  let afterSeq = -1;
  for (;;) {
    const items = await store.apiBatches.itemsAfter(batchId, afterSeq, RESULTS_PAGE);
    if (items.length === 0) return;
    let chunk = "";
    for (const it of items) chunk += `${JSON.stringify(resultLine(it))}\n`;
    yield chunk;
    afterSeq = items[items.length - 1].seq;
  }
}

/**
 * The Anthropic Message Batches API under `/v1/messages/batches`, for the official SDK with
 * only `baseURL` and `apiKey` changed. Batches are ordinary batches of the one store and engine.
 */
export async function anthropicBatchApi(app: App, ctx: AppContext): Promise<void> {
  const { store, config, signals, providers } = ctx;
  app.setErrorHandler(anthropicErrorHandler);
  app.addHook("onRequest", async (request) => {
    const key = keyFromHeaders(request.headers);
    const ws = key ? await ctx.keys.resolve(key) : undefined;
    if (!ws) throw new AnthropicApiError(401, "authentication_error", "invalid x-api-key");
    request.workspace = ws;
  });

  const present = async (ab: ApiBatch, request: FastifyRequest) => {
    const counts = ab.batch.failed > 0 ? await store.apiBatches.failedByCode(ab.batch.id) : new Map();
    return messageBatchObject(ab, counts, baseUrl(request, config.publicUrl));
  };
  const find = async (request: { workspace: { id: string }; params: { id: string } }): Promise<ApiBatch> => {
    const ab = await store.apiBatches.get(request.workspace.id, request.params.id, "anthropic");
    if (!ab) throw notFound(request.params.id);
    return ab;
  };

  app.post(
    "/messages/batches",
    {
      schema: { tags, summary: "Create a Message Batch", body: CreateBody },
      // The JSON body is parsed whole (Anthropic's shape has no file upload), so it is capped
      // well below the upload limit: parsed objects take several times the raw size in memory.
      bodyLimit: Math.min(config.maxUploadBytes, 64 * 1024 * 1024),
    },
    async (request) => {
      const ws = request.workspace;
      const parsed = parseBatchRequests(request.body.requests, (model) =>
        routeModel(model, config.models, providers),
      );
      const now = Date.now();
      const id = `msgbatch_${crypto.randomUUID().replace(/-/g, "")}`;
      const items = parsed.map((p) => requestItem(p.customId, p.request, ANTHROPIC_BATCH_AGENT));
      const ab = await store.apiBatches.create(
        {
          id,
          workspaceId: ws.id,
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
      return present(ab, request);
    },
  );

  app.get(
    "/messages/batches",
    { schema: { tags, summary: "List Message Batches", querystring: ListQuery } },
    async (request) => {
      const { before_id, after_id, limit } = request.query;
      if (before_id && after_id) throw invalid("before_id and after_id cannot both be given");
      const page = await store.apiBatches.list(request.workspace.id, "anthropic", {
        limit,
        beforeId: before_id,
        afterId: after_id,
      });
      const data = [];
      for (const ab of page.rows) data.push(await present(ab, request));
      return {
        data,
        has_more: page.hasMore,
        first_id: data[0]?.id ?? null,
        last_id: data.at(-1)?.id ?? null,
      };
    },
  );

  app.get(
    "/messages/batches/:id",
    { schema: { tags, summary: "Retrieve a Message Batch", params: IdParams } },
    async (request) => present(await find(request), request),
  );

  app.post(
    "/messages/batches/:id/cancel",
    {
      schema: { tags, summary: "Cancel a Message Batch", params: IdParams, body: Type.Optional(Type.Any()) },
    },
    async (request) => {
      const ab = await find(request);
      const now = Date.now();
      const result = await store.cancelBatch(request.workspace.id, ab.batch.id, now);
      if (result.kind === "not_found") throw notFound(request.params.id);
      if (result.kind === "ok" && result.changed) {
        await store.apiBatches.markCancelRequested(ab.batch.id, now);
        signals.notifyBatchChanged({ batchIds: [ab.batch.id], transitions: result.transitions });
      }
      // Cancelling an ended batch changes nothing, as with Anthropic: the batch is returned as it is.
      return present(
        (await store.apiBatches.get(request.workspace.id, ab.batch.id, "anthropic")) ?? ab,
        request,
      );
    },
  );

  app.delete(
    "/messages/batches/:id",
    { schema: { tags, summary: "Delete an ended Message Batch", params: IdParams } },
    async (request) => {
      const ab = await find(request);
      if (processingStatus(ab) !== "ended") {
        throw invalid(
          `Message batch ${ab.batch.id} is still ${processingStatus(ab)}; cancel it and wait for it to end before deleting it`,
        );
      }
      await store.apiBatches.markDeleted(ab.batch.id, Date.now());
      return { id: ab.batch.id, type: "message_batch_deleted" };
    },
  );

  app.get(
    "/messages/batches/:id/results",
    { schema: { tags, summary: "Stream the results of an ended Message Batch (JSONL)", params: IdParams } },
    async (request, reply) => {
      const ab = await find(request);
      if (processingStatus(ab) !== "ended") {
        throw invalid(
          `Message batch ${ab.batch.id} has not ended yet; its results are available once processing_status is ended`,
        );
      }
      return reply.type("application/x-jsonl").send(Readable.from(resultLines(store, ab.batch.id)));
    },
  );
}
