import { newOpenAIFileId } from "../../domain/ids.js";
import type { FileRecord, Workspace } from "../../store/types.js";
import type { ApiPlugin, ApiRequest } from "../api-plugin.js";
import type { AppContext } from "../context.js";
import { IdParams } from "../schemas/common.js";
import { assertWithinQuota } from "../uploads.js";
import { invalidRequest, noSuch } from "./openai-errors.js";
import { ListFilesQuery } from "./openai-schemas.js";
import { fileObject } from "./openai-wire.js";

const tags = ["OpenAI Batch API"];

const uploadSchema = {
  tags,
  summary: "Upload a batch input file (multipart: file, purpose=batch)",
  consumes: ["multipart/form-data"],
};
const listSchema = { tags, summary: "List files", querystring: ListFilesQuery };
const getSchema = { tags, summary: "Retrieve a file", params: IdParams };
const contentSchema = { tags, summary: "Download a file's content (streamed)", params: IdParams };
const deleteSchema = { tags, summary: "Delete a file", params: IdParams };

/** OpenAI's Files API under `/v1/files`: batch input files in, output and error files out. */
export const openAIFileRoutes: ApiPlugin = async (app, { ctx }) => {
  app.post("/files", { schema: uploadSchema }, (request) => uploadFile(ctx, request));
  app.get("/files", { schema: listSchema }, (request) => listFiles(ctx, request));
  app.get("/files/:id", { schema: getSchema }, async (request) =>
    fileObject(await fileOf(ctx, request.workspace, request.params.id)),
  );
  app.get("/files/:id/content", { schema: contentSchema }, async (request, reply) => {
    const f = await fileOf(ctx, request.workspace, request.params.id);
    return reply.type(f.contentType || "application/octet-stream").send(ctx.files.open(f.storagePath));
  });
  app.delete("/files/:id", { schema: deleteSchema }, (request) => deleteFile(ctx, request));
};

async function fileOf(ctx: AppContext, ws: Workspace, id: string): Promise<FileRecord> {
  const f = await ctx.store.files.get(ws.id, id);
  if (!f) throw noSuch("File object", id);
  return f;
}

type SavedUpload = { id: string; size: number; filename: string; mimetype: string };

/**
 * Streams the multipart `file` to disk and reads `purpose`; any other part (a field such as
 * `expires_after[anchor]`, which agentbatch does not honour, or a second file) is a 400 naming it.
 */
async function receiveFile(
  ctx: AppContext,
  request: ApiRequest<typeof uploadSchema>,
): Promise<{ saved: SavedUpload | null; purpose?: string }> {
  let saved: SavedUpload | null = null;
  let purpose: string | undefined;
  try {
    for await (const part of request.parts()) {
      if (part.type !== "file") {
        if (part.fieldname !== "purpose") {
          throw invalidRequest(
            `Unrecognized request argument supplied: ${part.fieldname} (this upload takes file and purpose)`,
            part.fieldname,
          );
        }
        purpose = String(part.value);
      } else if (part.fieldname !== "file" || saved) {
        part.file.resume();
        throw invalidRequest(
          `${part.fieldname}: send exactly one file, in the part named 'file'.`,
          part.fieldname,
        );
      } else {
        const id = newOpenAIFileId();
        const { size } = await ctx.files.save(part.file, ctx.files.pathFor(id), ctx.config.maxUploadBytes);
        saved = { id, size, filename: part.filename || "upload.jsonl", mimetype: part.mimetype };
      }
    }
  } catch (err) {
    // The form broke after the file was stored (a truncated later part): no file without a row.
    if (saved) await ctx.files.remove(ctx.files.pathFor(saved.id));
    throw err;
  }
  return { saved, purpose };
}

async function uploadFile(ctx: AppContext, request: ApiRequest<typeof uploadSchema>) {
  if (!request.isMultipart())
    throw invalidRequest("Send multipart/form-data with a file and purpose=batch", "file");
  const { saved, purpose } = await receiveFile(ctx, request);
  if (!saved) throw invalidRequest("Missing required parameter: 'file'.", "file");
  if (purpose !== "batch") {
    await ctx.files.remove(ctx.files.pathFor(saved.id));
    throw invalidRequest(
      purpose === undefined
        ? "Missing required parameter: 'purpose'."
        : `Invalid 'purpose': agentbatch stores files for batches; use purpose=batch (got ${purpose}).`,
      "purpose",
    );
  }
  const record = await storeOrRemove(ctx, {
    id: saved.id,
    workspaceId: request.workspace.id,
    purpose: "batch_input",
    scope: "persistent",
    originalName: saved.filename,
    contentType: saved.mimetype || "application/jsonl",
    size: saved.size,
    storagePath: ctx.files.pathFor(saved.id),
    meta: null,
    createdAt: Date.now(),
  });
  return fileObject(record);
}

async function listFiles(ctx: AppContext, request: ApiRequest<typeof listSchema>) {
  const { after, limit, order, purpose } = request.query;
  const page = await listFilesPage(ctx, request.workspace, { after, limit, order, purpose });
  return {
    object: "list",
    data: page.rows.map(fileObject),
    first_id: page.rows[0]?.id ?? null,
    last_id: page.rows.at(-1)?.id ?? null,
    has_more: page.hasMore,
  };
}

async function deleteFile(ctx: AppContext, request: ApiRequest<typeof deleteSchema>) {
  const f = await ctx.store.files.delete(request.workspace.id, request.params.id, Date.now());
  if (!f) throw noSuch("File object", request.params.id);
  await ctx.files.remove(f.storagePath);
  return { id: f.id, object: "file", deleted: true };
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

/** Writes the file's row; if that fails, the stored bytes are removed (no file without a row). */
async function storeOrRemove(ctx: AppContext, record: FileRecord): Promise<FileRecord> {
  try {
    await assertWithinQuota(ctx, record);
    return await ctx.store.files.create(record);
  } catch (err) {
    await ctx.files.remove(record.storagePath);
    throw err;
  }
}
