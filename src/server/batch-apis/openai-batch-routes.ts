import { newOpenAIBatchId } from "../../domain/ids.js";
import type { ApiBatch } from "../../store/api-batches.js";
import type { ApiPlugin, ApiRequest } from "../api-plugin.js";
import type { AppContext } from "../context.js";
import { IdParams, NoBody } from "../schemas/common.js";
import { routeModel } from "./model-routing.js";
import { invalidRequest, noSuch } from "./openai-errors.js";
import {
  BATCH_ENDPOINTS,
  inputItemGroups,
  type ModelRouter,
  OPENAI_BATCH_AGENT,
  validateInputFile,
} from "./openai-input.js";
import { CreateBatchBody, ListBatchesQuery } from "./openai-schemas.js";
import { batchObject } from "./openai-wire.js";

const tags = ["OpenAI Batch API"];

const createSchema = { tags, summary: "Create a batch", body: CreateBatchBody };
const listSchema = { tags, summary: "List batches", querystring: ListBatchesQuery };
const getSchema = { tags, summary: "Retrieve a batch", params: IdParams };
const cancelSchema = { tags, summary: "Cancel a batch", params: IdParams, body: NoBody };

/** Endpoints OpenAI batches may target; `BATCH_ENDPOINTS` of them run here. */
const KNOWN_ENDPOINTS = ["/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/completions"];

/**
 * OpenAI's Batch API under `/v1/batches` (create, list with `after`, retrieve, cancel): ordinary
 * batches of the one store and engine, whose items carry the request of each input line.
 */
export const openAIBatchRoutes: ApiPlugin = async (app, { ctx }) => {
  app.post("/batches", { schema: createSchema }, (request) => createBatch(ctx, request));
  app.get("/batches", { schema: listSchema }, (request) => listBatches(ctx, request));
  app.get("/batches/:id", { schema: getSchema }, async (request) =>
    present(ctx, await batchOf(ctx, request.workspace.id, request.params.id)),
  );
  app.post("/batches/:id/cancel", { schema: cancelSchema }, (request) => cancelBatch(ctx, request));
};

async function batchOf(ctx: AppContext, workspaceId: string, id: string): Promise<ApiBatch> {
  const ab = await ctx.store.apiBatches.get(workspaceId, id, "openai");
  if (!ab) throw noSuch("batch", id);
  return ab;
}

/**
 * The batch object; a batch read while its files are still due (`finalizing`, or `cancelling`
 * after its items ended) prompts the output writer rather than waiting for its next sweep.
 */
async function present(ctx: AppContext, ab: ApiBatch) {
  const counted = ab.batch.status === "completed" && ab.batch.failed > 0;
  const expired = counted ? ((await ctx.store.items.countFailedByCode(ab.batch.id)).get(408) ?? 0) : 0;
  const obj = batchObject(ab, expired);
  if (obj.status === "finalizing" || (obj.status === "cancelling" && ab.batch.status === "cancelled")) {
    ctx.openAIOutput.kick();
  }
  return obj;
}

/** What OpenAI checks of a create before reading its file: the endpoint and the window. */
function checkCreate(endpoint: string, completionWindow: string): void {
  if (!BATCH_ENDPOINTS.includes(endpoint)) {
    throw invalidRequest(
      KNOWN_ENDPOINTS.includes(endpoint)
        ? `The endpoint ${endpoint} is not supported by agentbatch; batches run ${BATCH_ENDPOINTS.join(", ")} requests.`
        : `Invalid 'endpoint': ${endpoint}. Supported: ${BATCH_ENDPOINTS.join(", ")}.`,
      "endpoint",
    );
  }
  if (completionWindow !== "24h") {
    throw invalidRequest(
      `Invalid 'completion_window': ${completionWindow}. Supported: 24h.`,
      "completion_window",
    );
  }
}

async function createBatch(ctx: AppContext, request: ApiRequest<typeof createSchema>) {
  const { store, files, config, signals } = ctx;
  const ws = request.workspace;
  const { input_file_id, endpoint, completion_window, metadata } = request.body;
  checkCreate(endpoint, completion_window);
  const file = await store.files.get(ws.id, input_file_id);
  if (!file) throw noSuch("File object", input_file_id, "input_file_id");
  if (file.purpose !== "batch_input") {
    throw invalidRequest(`File ${input_file_id} was not uploaded with purpose batch.`, "input_file_id");
  }
  const route: ModelRouter = (model) => routeModel(model, config.models, ctx.providers);
  const { total, errors } = await validateInputFile(
    files.open(file.storagePath),
    endpoint,
    route,
    config.maxRecordBytes,
  );
  const now = Date.now();
  const id = newOpenAIBatchId();
  const ab = await store.apiBatches.create(
    {
      id,
      workspaceId: ws.id,
      agentId: OPENAI_BATCH_AGENT,
      name: file.originalName,
      webhook: null,
      metadata: metadata ?? null,
      createdAt: now,
      expiresAt: now + config.engine.completionWindowMs,
    },
    {
      shape: "openai",
      endpoint,
      inputFileId: file.id,
      completionWindow: completion_window,
      lineErrors: errors,
    },
    total,
    inputItemGroups(files.open(file.storagePath), endpoint, route, config.maxRecordBytes),
    now,
  );
  request.log.info({ batch_id: id, total, invalid_lines: errors.length }, "openai batch created");
  if (errors.length === 0) signals.notifyWork();
  signals.notifyBatchChanged({ batchIds: [id], transitions: [] });
  return present(ctx, ab);
}

async function listBatches(ctx: AppContext, request: ApiRequest<typeof listSchema>) {
  const { after, limit } = request.query;
  const page = await ctx.store.apiBatches.list(request.workspace.id, "openai", { afterId: after, limit });
  const data = [];
  for (const ab of page.rows) data.push(await present(ctx, ab));
  return {
    object: "list",
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: page.hasMore,
  };
}

async function cancelBatch(ctx: AppContext, request: ApiRequest<typeof cancelSchema>) {
  const ws = request.workspace;
  const found = await batchOf(ctx, ws.id, request.params.id);
  const now = Date.now();
  const result = await ctx.store.batches.cancel(ws.id, found.batch.id, now);
  if (result.kind === "not_found") throw noSuch("batch", request.params.id);
  if (result.kind === "conflict") {
    throw invalidRequest(
      `Cannot cancel a batch with status ${batchObject(found, 0).status}.`,
      null,
      "batch_not_cancellable",
    );
  }
  if (result.changed) {
    await ctx.store.apiBatches.markCancelRequested(found.batch.id, now);
    ctx.signals.notifyBatchChanged({ batchIds: [found.batch.id], transitions: result.transitions });
  }
  return present(ctx, (await ctx.store.apiBatches.get(ws.id, found.batch.id, "openai")) ?? found);
}
