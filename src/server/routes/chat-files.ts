import type { MultipartFile } from "@fastify/multipart";
import { ACCEPTED_ATTACHMENT_TYPES, attachmentContentType, attachmentKind } from "../../files/attachments.js";
import { FileTooLargeError } from "../../files/storage.js";
import type { FileRecord } from "../../store/types.js";
import type { App } from "../app.js";
import type { AppContext } from "../context.js";
import { badRequest, notFound } from "../errors.js";
import { FILE_SCOPES, FileParams } from "../schemas/chats.js";
import { fileToWire } from "../wire/chats.js";
import { baseUrl, ok } from "../wire/envelope.js";

const tags = ["Chats"];

type Scope = (typeof FILE_SCOPES)[number];

/** `POST /chats/upload-file` and the authenticated download its `file_url` points at. */
export async function uploadRoutes(app: App, ctx: AppContext): Promise<void> {
  const maxBytes = Math.min(ctx.config.maxAttachmentBytes, ctx.config.maxUploadBytes);

  app.post(
    "/chats/upload-file",
    {
      schema: {
        tags,
        summary: "Upload a file to attach to messages or batch requests",
        description: `multipart/form-data with a \`file\` part and an optional \`scope\` field (persistent, the default, or ephemeral). At most ${maxBytes} bytes; accepted types: ${ACCEPTED_ATTACHMENT_TYPES}.`,
        consumes: ["multipart/form-data"],
      },
    },
    async (request, reply) => {
      if (!request.isMultipart()) {
        throw badRequest("Send multipart/form-data with the file in a part named `file`");
      }
      const ws = request.workspace;
      let saved: FileRecord | null = null;
      let scope: Scope = "persistent";
      try {
        for await (const part of request.parts()) {
          if (part.type === "file") {
            if (part.fieldname !== "file" || saved) {
              part.file.resume();
              throw badRequest(`${part.fieldname}: send exactly one file, in the part named \`file\``);
            }
            saved = await saveUpload(ctx, ws.id, part, maxBytes);
          } else if (part.fieldname === "scope") {
            const value = String(part.value);
            if (!(FILE_SCOPES as readonly string[]).includes(value)) {
              throw badRequest(`scope: must be one of ${FILE_SCOPES.join(", ")}`);
            }
            scope = value as Scope;
          }
        }
      } catch (err) {
        if (saved) await ctx.files.remove(saved.storagePath);
        if (
          err instanceof FileTooLargeError ||
          (err as { code?: string }).code === "FST_REQ_FILE_TOO_LARGE"
        ) {
          throw badRequest(`file: larger than the attachment size limit of ${maxBytes} bytes`);
        }
        throw err;
      }
      if (!saved) throw badRequest("file is required: send it in a multipart part named `file`");
      let file: FileRecord;
      try {
        file = await ctx.store.createFile({ ...saved, scope });
      } catch (err) {
        await ctx.files.remove(saved.storagePath);
        throw err;
      }
      request.log.info({ file_id: file.id, size: file.size }, "attachment uploaded");
      return reply.code(201).send(ok(fileToWire(file, baseUrl(request, ctx.config.publicUrl))));
    },
  );

  app.get(
    "/chats/files/:uuid",
    { schema: { tags, summary: "Download an attached file", params: FileParams } },
    async (request, reply) => {
      const file = await ctx.store.getFile(request.workspace.id, request.params.uuid);
      if (file?.purpose !== "attachment") throw notFound("File");
      return reply
        .header("content-type", file.contentType)
        .header("content-length", String(file.size))
        .header(
          "content-disposition",
          `attachment; filename*=UTF-8''${encodeURIComponent(file.originalName)}`,
        )
        .header("x-content-type-options", "nosniff")
        .send(ctx.files.open(file.storagePath));
    },
  );
}

/** Streams one uploaded part to disk after checking its type; the row is written by the caller. */
async function saveUpload(
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
  const id = crypto.randomUUID();
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
