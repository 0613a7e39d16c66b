import type { MultipartFile } from "@fastify/multipart";
import { newUuid } from "../../domain/ids.js";
import { ACCEPTED_ATTACHMENT_TYPES, attachmentContentType, attachmentKind } from "../../files/attachments.js";
import type { FileRecord } from "../../store/types.js";
import type { ApiPlugin, ApiReply, ApiRequest } from "../api-plugin.js";
import type { AppContext } from "../context.js";
import { badRequest, notFound } from "../errors.js";
import { FILE_SCOPES, FileParams } from "../schemas/chats.js";
import { receiveUpload, storeUpload } from "../uploads.js";
import { fileToWire } from "../wire/chats.js";
import { baseUrl, ok } from "../wire/envelope.js";

const tags = ["Chats"];

type Scope = (typeof FILE_SCOPES)[number];

const uploadSchema = (maxBytes: number) => ({
  tags,
  summary: "Upload a file to attach to messages or batch requests",
  description: `multipart/form-data with a \`file\` part and an optional \`scope\` field (persistent, the default, or ephemeral). At most ${maxBytes} bytes; accepted types: ${ACCEPTED_ATTACHMENT_TYPES}.`,
  consumes: ["multipart/form-data"],
});
const downloadSchema = { tags, summary: "Download an attached file", params: FileParams };

/** `POST /chats/upload-file` and the authenticated download its `file_url` points at. */
export const chatFileRoutes: ApiPlugin = async (app, { ctx }) => {
  app.post("/chats/upload-file", { schema: uploadSchema(attachmentLimit(ctx)) }, (request, reply) =>
    uploadAttachment(ctx, request, reply),
  );
  app.get("/chats/files/:uuid", { schema: downloadSchema }, (request, reply) =>
    downloadAttachment(ctx, request, reply),
  );
};

const attachmentLimit = (ctx: AppContext) =>
  Math.min(ctx.config.maxAttachmentBytes, ctx.config.maxUploadBytes);

async function uploadAttachment(
  ctx: AppContext,
  request: ApiRequest<ReturnType<typeof uploadSchema>>,
  reply: ApiReply<ReturnType<typeof uploadSchema>>,
) {
  const maxBytes = attachmentLimit(ctx);
  let scope: Scope = "persistent";
  const saved = await receiveUpload(ctx, request, {
    notMultipart: "Send multipart/form-data with the file in a part named `file`",
    tooLarge: `file: larger than the attachment size limit of ${maxBytes} bytes`,
    save: (part) => saveAttachment(ctx, request.workspace.id, part, maxBytes),
    fields: {
      scope: (value) => {
        if (!(FILE_SCOPES as readonly string[]).includes(value)) {
          throw badRequest(`scope: must be one of ${FILE_SCOPES.join(", ")}`);
        }
        scope = value as Scope;
      },
    },
  });
  const file = await storeUpload(ctx, { ...saved, scope });
  request.log.info({ file_id: file.id, size: file.size }, "attachment uploaded");
  return reply.code(201).send(ok(fileToWire(file, baseUrl(request, ctx.config.publicUrl))));
}

async function downloadAttachment(
  ctx: AppContext,
  request: ApiRequest<typeof downloadSchema>,
  reply: ApiReply<typeof downloadSchema>,
) {
  const file = await ctx.store.files.get(request.workspace.id, request.params.uuid);
  if (file?.purpose !== "attachment") throw notFound("File");
  return reply
    .header("content-type", file.contentType)
    .header("content-length", String(file.size))
    .header("content-disposition", `attachment; filename*=UTF-8''${encodeURIComponent(file.originalName)}`)
    .header("x-content-type-options", "nosniff")
    .send(ctx.files.open(file.storagePath));
}

/** Streams one uploaded part to disk after checking its type; the row is written by the caller. */
async function saveAttachment(
  ctx: AppContext,
  workspaceId: string,
  part: MultipartFile,
  maxBytes: number,
): Promise<FileRecord> {
  const originalName = (part.filename || "upload").slice(0, 256);
  const contentType = attachmentContentType(part.mimetype, originalName);
  if (attachmentKind(contentType) === null) {
    part.file.resume();
    throw badRequest(
      `file: type ${contentType} is not accepted; a model can be given ${ACCEPTED_ATTACHMENT_TYPES}`,
    );
  }
  const id = newUuid();
  const storagePath = ctx.files.pathFor(id);
  const { size } = await ctx.files.save(part.file, storagePath, maxBytes);
  if (size === 0) {
    await ctx.files.remove(storagePath);
    throw badRequest("file: the file is empty");
  }
  return {
    id,
    workspaceId,
    purpose: "attachment",
    scope: "persistent",
    originalName,
    contentType,
    size,
    storagePath,
    meta: null,
    createdAt: Date.now(),
  };
}
