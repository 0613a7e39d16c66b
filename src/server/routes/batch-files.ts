import type { MultipartFile } from "@fastify/multipart";
import { Type } from "@sinclair/typebox";
import { newUuid } from "../../domain/ids.js";
import { detectInputFormat } from "../../files/batch-input.js";
import type { FileRecord } from "../../store/types.js";
import type { ApiPlugin, ApiReply, ApiRequest } from "../api-plugin.js";
import { readHead } from "../batch-file-rows.js";
import type { AppContext } from "../context.js";
import { badRequest, notFound } from "../errors.js";
import { receiveUpload, storeUpload } from "../uploads.js";
import { ok } from "../wire/envelope.js";
import { batchFileToWire } from "../wire/files.js";

const tags = ["Files"];

const uploadSchema = (maxBytes: number) => ({
  tags,
  summary: "Upload a batch input file (CSV, JSON or JSONL)",
  description: `multipart/form-data with a \`file\` part and \`purpose=batch_input\`. At most ${maxBytes} bytes. Then create a batch with \`file_id\`.`,
  consumes: ["multipart/form-data"],
});
const getSchema = {
  tags,
  summary: "Get a batch input file's metadata",
  params: Type.Object({ id: Type.String() }),
};

/**
 * `POST /files` (purpose batch_input) and `GET /files/{id}`: batch input files, streamed to disk
 * with the upload size cap. Rows are parsed and checked when a batch is created from the file
 * (the column mapping and the agents are known only then); the upload records the format.
 */
export const batchFileRoutes: ApiPlugin = async (app, { ctx }) => {
  app.post("/files", { schema: uploadSchema(ctx.config.maxUploadBytes) }, (request, reply) =>
    uploadBatchFile(ctx, request, reply),
  );
  app.get("/files/:id", { schema: getSchema }, (request) => getBatchFile(ctx, request));
};

async function uploadBatchFile(
  ctx: AppContext,
  request: ApiRequest<ReturnType<typeof uploadSchema>>,
  reply: ApiReply<ReturnType<typeof uploadSchema>>,
) {
  let purpose: string | null = null;
  const saved = await receiveUpload(ctx, request, {
    notMultipart: "Send multipart/form-data with the file in a part named `file` and purpose=batch_input",
    tooLarge: `file: larger than the upload limit of ${ctx.config.maxUploadBytes} bytes`,
    save: (part) => saveInputFile(ctx, request.workspace.id, part),
    fields: {
      purpose: (value) => {
        purpose = value;
      },
    },
    check: async (file) => {
      if (purpose !== null && purpose !== "batch_input") {
        throw badRequest(
          `purpose: must be batch_input (attachments are uploaded with POST /api/v1/chats/upload-file)`,
        );
      }
      if (file.size === 0) throw badRequest("file: the file is empty");
      const format = detectInputFormat(file.originalName, file.contentType, await readHead(ctx, file));
      if (!format) throw badRequest("file: not a CSV, JSON or JSONL file");
      file.meta = { format };
    },
  });
  const file = await storeUpload(ctx, saved);
  request.log.info({ file_id: file.id, size: file.size }, "batch input file uploaded");
  return reply.code(201).send(ok(batchFileToWire(file)));
}

async function saveInputFile(ctx: AppContext, workspaceId: string, part: MultipartFile): Promise<FileRecord> {
  const id = newUuid();
  const storagePath = ctx.files.pathFor(id);
  const { size } = await ctx.files.save(part.file, storagePath, ctx.config.maxUploadBytes);
  return {
    id,
    workspaceId,
    purpose: "batch_input",
    scope: "persistent",
    originalName: (part.filename || "input").slice(0, 256),
    contentType: part.mimetype || "application/octet-stream",
    size,
    storagePath,
    meta: null,
    createdAt: Date.now(),
  };
}

async function getBatchFile(ctx: AppContext, request: ApiRequest<typeof getSchema>) {
  const file = await ctx.store.files.get(request.workspace.id, request.params.id);
  if (file?.purpose !== "batch_input") throw notFound("File");
  return ok(batchFileToWire(file));
}
