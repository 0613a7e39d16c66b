import { Type } from "@sinclair/typebox";
import type { ErrorObject } from "ajv";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import { FileTooLargeError } from "../../files/storage.js";
import type { FileRecord, Workspace } from "../../store/types.js";
import type { App } from "../app.js";
import { keyFromHeaders } from "../auth.js";
import type { AppContext } from "../context.js";
import { isMalformedUpload } from "../errors.js";
import { routeModel } from "./model-routing.js";
import {
  CHAT_COMPLETIONS_ENDPOINT,
  inputItemGroups,
  type ModelRouter,
  OPENAI_BATCH_AGENT,
  validateInputFile,
} from "./openai-input.js";
import { newFileId, OpenAIOutputWriter } from "./openai-output.js";
import { batchObject, fileObject } from "./openai-wire.js";

/** An error in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`. */
export class OpenAIApiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly type = "invalid_request_error",
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = "OpenAIApiError";
  }
}

const invalid = (message: string, param: string | null = null, code: string | null = null) =>
  new OpenAIApiError(400, message, "invalid_request_error", param, code);
const noSuch = (what: string, id: string, param = "id") =>
  new OpenAIApiError(404, `No such ${what}: ${id}`, "invalid_request_error", param);

/** Endpoints OpenAI batches may target; only chat completions can run here. */
const KNOWN_ENDPOINTS = ["/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/completions"];

/** `/body/0/x` → `body[0].x` for OpenAI's `param`. */
function paramPath(err: ErrorObject): string {
  const parts = err.instancePath.split("/").filter(Boolean);
  if (err.keyword === "required") parts.push((err.params as { missingProperty: string }).missingProperty);
  let out = "";
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out ? `.${p}` : p;
  return out;
}

function openAIErrorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const send = (status: number, message: string, type: string, param: string | null, code: string | null) =>
    reply.code(status).send({ error: { message, type, param, code } });
  if (err instanceof OpenAIApiError) return send(err.statusCode, err.message, err.type, err.param, err.code);
  if (err instanceof FileTooLargeError || err.code === "FST_REQ_FILE_TOO_LARGE") {
    return send(413, err.message, "invalid_request_error", "file", "file_too_large");
  }
  if (err.validation) {
    const first = err.validation[0] as ErrorObject;
    const param = paramPath(first);
    const message =
      first.keyword === "required"
        ? `Missing required parameter: '${param}'.`
        : `Invalid '${param}': ${first.message}.`;
    return send(400, message, "invalid_request_error", param || null, null);
  }
  if (isMalformedUpload(err)) {
    return send(400, `Malformed multipart body: ${err.message}`, "invalid_request_error", "file", null);
  }
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return send(err.statusCode, err.message, "invalid_request_error", null, null);
  }
  request.log.error({ err }, "unhandled error");
  return send(500, "The server had an error while processing your request.", "server_error", null, null);
}

const tags = ["OpenAI Batch API"];
const IdParams = Type.Object({ id: Type.String() });

const CreateBatchBody = Type.Object({
  input_file_id: Type.String({ minLength: 1, description: "A file uploaded with purpose batch" }),
  endpoint: Type.String({ description: "Only /v1/chat/completions can run on agentbatch" }),
  completion_window: Type.String({ description: "24h" }),
  metadata: Type.Optional(
    Type.Union([
      Type.Record(Type.String(), Type.String({ maxLength: 512 }), { maxProperties: 16 }),
      Type.Null(),
    ]),
  ),
});

const ListQuery = Type.Object({
  after: Type.Optional(Type.String()),
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
});

const ListFilesQuery = Type.Object({
  after: Type.Optional(Type.String()),
  limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 10_000 }),
  order: Type.Union([Type.Literal("asc"), Type.Literal("desc")], { default: "desc" }),
  purpose: Type.Optional(Type.String()),
});

/**
 * The OpenAI Files and Batch APIs under `/v1`, for the official SDKs with only `baseURL` and
 * `apiKey` changed. A thin layer: batches are ordinary batches of the one store and engine,
 * whose items carry the request of each input line.
 */
export async function openAIBatchApi(app: App, ctx: AppContext): Promise<void> {
  const { store, files, config, signals, providers } = ctx;
  const writer = new OpenAIOutputWriter(store, files, signals, app.log as unknown as Logger);
  writer.start();
  app.addHook("onClose", async () => writer.stop());
  const route: ModelRouter = (model) => routeModel(model, config.models, providers);

  app.setErrorHandler(openAIErrorHandler);
  app.addHook("onRequest", async (request) => {
    const key = keyFromHeaders(request.headers);
    if (!key) {
      throw new OpenAIApiError(
        401,
        "You didn't provide an API key. Send it as Authorization: Bearer <key>.",
        "invalid_request_error",
        null,
        "missing_api_key",
      );
    }
    const ws = await ctx.keys.resolve(key);
    if (!ws)
      throw new OpenAIApiError(
        401,
        "Incorrect API key provided.",
        "invalid_request_error",
        null,
        "invalid_api_key",
      );
    request.workspace = ws;
  });

  // ---- files ----

  app.post(
    "/files",
    { schema: { tags, summary: "Upload a batch input file (multipart: file, purpose=batch)" } },
    async (request) => {
      if (!request.isMultipart())
        throw invalid("Send multipart/form-data with a file and purpose=batch", "file");
      let saved: { id: string; size: number; filename: string; mimetype: string } | null = null;
      let purpose: string | undefined;
      for await (const part of request.parts()) {
        if (part.type === "file") {
          if (part.fieldname !== "file" || saved) {
            part.file.resume();
            continue;
          }
          const id = newFileId();
          const { size } = await files.save(part.file, files.pathFor(id), config.maxUploadBytes);
          saved = { id, size, filename: part.filename || "upload.jsonl", mimetype: part.mimetype };
        } else if (part.fieldname === "purpose") {
          purpose = String(part.value);
        }
      }
      if (!saved) throw invalid("Missing required parameter: 'file'.", "file");
      if (purpose !== "batch") {
        await files.remove(files.pathFor(saved.id));
        throw invalid(
          purpose === undefined
            ? "Missing required parameter: 'purpose'."
            : `Invalid 'purpose': agentbatch stores files for batches; use purpose=batch (got ${purpose}).`,
          "purpose",
        );
      }
      const record = await store.files.create({
        id: saved.id,
        workspaceId: request.workspace.id,
        purpose: "batch_input",
        scope: "persistent",
        originalName: saved.filename,
        contentType: saved.mimetype || "application/jsonl",
        size: saved.size,
        storagePath: files.pathFor(saved.id),
        meta: null,
        createdAt: Date.now(),
      });
      return fileObject(record);
    },
  );

  app.get(
    "/files",
    { schema: { tags, summary: "List files", querystring: ListFilesQuery } },
    async (request) => {
      const { after, limit, order, purpose } = request.query;
      const page = await listFilesPage(ctx, request.workspace, { after, limit, order, purpose });
      return {
        object: "list",
        data: page.rows.map(fileObject),
        first_id: page.rows[0]?.id ?? null,
        last_id: page.rows.at(-1)?.id ?? null,
        has_more: page.hasMore,
      };
    },
  );

  app.get(
    "/files/:id",
    { schema: { tags, summary: "Retrieve a file", params: IdParams } },
    async (request) => {
      const f = await store.files.get(request.workspace.id, request.params.id);
      if (!f) throw noSuch("File object", request.params.id);
      return fileObject(f);
    },
  );

  app.get(
    "/files/:id/content",
    { schema: { tags, summary: "Download a file's content (streamed)", params: IdParams } },
    async (request, reply) => {
      const f = await store.files.get(request.workspace.id, request.params.id);
      if (!f) throw noSuch("File object", request.params.id);
      return reply.type(f.contentType || "application/octet-stream").send(files.open(f.storagePath));
    },
  );

  app.delete(
    "/files/:id",
    { schema: { tags, summary: "Delete a file", params: IdParams } },
    async (request) => {
      const f = await store.files.delete(request.workspace.id, request.params.id, Date.now());
      if (!f) throw noSuch("File object", request.params.id);
      await files.remove(f.storagePath);
      return { id: f.id, object: "file", deleted: true };
    },
  );

  // ---- batches ----

  const present = async (ab: Parameters<typeof batchObject>[0]) => {
    const counted = ab.batch.status === "completed" && ab.batch.failed > 0;
    const expired = counted ? ((await store.items.countFailedByCode(ab.batch.id)).get(408) ?? 0) : 0;
    const obj = batchObject(ab, expired);
    if (obj.status === "finalizing" || (obj.status === "cancelling" && ab.batch.status === "cancelled"))
      writer.kick();
    return obj;
  };

  app.post(
    "/batches",
    { schema: { tags, summary: "Create a batch", body: CreateBatchBody } },
    async (request) => {
      const ws = request.workspace;
      const { input_file_id, endpoint, completion_window, metadata } = request.body;
      if (endpoint !== CHAT_COMPLETIONS_ENDPOINT) {
        throw invalid(
          KNOWN_ENDPOINTS.includes(endpoint)
            ? `The endpoint ${endpoint} is not supported by agentbatch; batches run ${CHAT_COMPLETIONS_ENDPOINT} requests.`
            : `Invalid 'endpoint': ${endpoint}. Supported: ${CHAT_COMPLETIONS_ENDPOINT}.`,
          "endpoint",
        );
      }
      if (completion_window !== "24h") {
        throw invalid(
          `Invalid 'completion_window': ${completion_window}. Supported: 24h.`,
          "completion_window",
        );
      }
      const file = await store.files.get(ws.id, input_file_id);
      if (!file) throw noSuch("File object", input_file_id, "input_file_id");
      if (file.purpose !== "batch_input") {
        throw invalid(`File ${input_file_id} was not uploaded with purpose batch.`, "input_file_id");
      }
      const { total, errors } = await validateInputFile(files.open(file.storagePath), endpoint, route);
      const now = Date.now();
      const id = `batch_${crypto.randomUUID().replace(/-/g, "")}`;
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
        inputItemGroups(files.open(file.storagePath), endpoint, route),
        now,
      );
      request.log.info({ batch_id: id, total, invalid_lines: errors.length }, "openai batch created");
      if (errors.length === 0) signals.notifyWork();
      signals.notifyBatchChanged({ batchIds: [id], transitions: [] });
      return present(ab);
    },
  );

  app.get(
    "/batches",
    { schema: { tags, summary: "List batches", querystring: ListQuery } },
    async (request) => {
      const { after, limit } = request.query;
      const page = await store.apiBatches.list(request.workspace.id, "openai", { afterId: after, limit });
      const data = [];
      for (const ab of page.rows) data.push(await present(ab));
      return {
        object: "list",
        data,
        first_id: data[0]?.id ?? null,
        last_id: data.at(-1)?.id ?? null,
        has_more: page.hasMore,
      };
    },
  );

  app.get(
    "/batches/:id",
    { schema: { tags, summary: "Retrieve a batch", params: IdParams } },
    async (request) => {
      const ab = await store.apiBatches.get(request.workspace.id, request.params.id, "openai");
      if (!ab) throw noSuch("batch", request.params.id);
      return present(ab);
    },
  );

  app.post(
    "/batches/:id/cancel",
    { schema: { tags, summary: "Cancel a batch", params: IdParams, body: Type.Optional(Type.Any()) } },
    async (request) => {
      const ws = request.workspace;
      const found = await store.apiBatches.get(ws.id, request.params.id, "openai");
      if (!found) throw noSuch("batch", request.params.id);
      const now = Date.now();
      const result = await store.batches.cancel(ws.id, found.batch.id, now);
      if (result.kind === "not_found") throw noSuch("batch", request.params.id);
      if (result.kind === "conflict") {
        throw invalid(
          `Cannot cancel a batch with status ${batchObject(found, 0).status}.`,
          null,
          "batch_not_cancellable",
        );
      }
      if (result.changed) {
        await store.apiBatches.markCancelRequested(found.batch.id, now);
        signals.notifyBatchChanged({ batchIds: [found.batch.id], transitions: result.transitions });
      }
      return present((await store.apiBatches.get(ws.id, found.batch.id, "openai")) ?? found);
    },
  );
}

/**
 * A page of files, newest first by default, after the file `after`. Files of a workspace are
 * few (inputs and outputs of its batches), so the cursor is found by reading pages in order.
 */
async function listFilesPage(
  ctx: AppContext,
  ws: Workspace,
  q: { after?: string; limit: number; order: "asc" | "desc"; purpose?: string },
): Promise<{ rows: FileRecord[]; hasMore: boolean }> {
  const wanted = (f: FileRecord) =>
    q.purpose === undefined || fileObject(f).purpose === q.purpose || f.purpose === q.purpose;
  const all: FileRecord[] = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await ctx.store.files.list(ws.id, { limit: 1000, offset });
    all.push(...page.rows.filter(wanted));
    if (page.rows.length < 1000) break;
  }
  if (q.order === "asc") all.reverse();
  let start = 0;
  if (q.after) {
    const at = all.findIndex((f) => f.id === q.after);
    start = at === -1 ? all.length : at + 1;
  }
  const rows = all.slice(start, start + q.limit);
  return { rows, hasMore: start + q.limit < all.length };
}
