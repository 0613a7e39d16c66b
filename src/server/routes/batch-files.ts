import { Type } from "@sinclair/typebox";
import { detectInputFormat } from "../../files/batch-input.js";
import { FileTooLargeError } from "../../files/storage.js";
import type { FileRecord } from "../../store/types.js";
import type { App } from "../app.js";
import { readHead } from "../batch-submit.js";
import type { AppContext } from "../context.js";
import { badRequest, notFound } from "../errors.js";
import { ok } from "../wire/envelope.js";
import { batchFileToWire } from "../wire/files.js";

const tags = ["Files"];

/**
 * `POST /files` (purpose batch_input) and `GET /files/{id}`: batch input files, streamed to disk
 * with the upload size cap. Rows are parsed and checked when a batch is created from the file
 * (the column mapping and the agents are known only then); the upload records the format.
 */
export async function batchFileRoutes(app: App, ctx: AppContext): Promise<void> {
  app.post(
    "/files",
    {
      schema: {
        tags,
        summary: "Upload a batch input file (CSV, JSON or JSONL)",
        description: `multipart/form-data with a \`file\` part and \`purpose=batch_input\`. At most ${ctx.config.maxUploadBytes} bytes. Then create a batch with \`file_id\`.`,
        consumes: ["multipart/form-data"],
      },
    },
    async (request, reply) => {
      if (!request.isMultipart()) {
        throw badRequest(
          "Send multipart/form-data with the file in a part named `file` and purpose=batch_input",
        );
      }
      const ws = request.workspace;
      let saved: FileRecord | null = null;
      let purpose: string | null = null;
      try {
        for await (const part of request.parts()) {
          if (part.type === "file") {
            if (part.fieldname !== "file" || saved) {
              part.file.resume();
              throw badRequest(`${part.fieldname}: send exactly one file, in the part named \`file\``);
            }
            const id = crypto.randomUUID();
            const storagePath = ctx.files.pathFor(id);
            const { size } = await ctx.files.save(part.file, storagePath, ctx.config.maxUploadBytes);
            saved = {
              id,
              workspaceId: ws.id,
              purpose: "batch_input",
              scope: "persistent",
              originalName: (part.filename || "input").slice(0, 256),
              contentType: part.mimetype || "application/octet-stream",
              size,
              storagePath,
              meta: null,
              createdAt: Date.now(),
            };
          } else if (part.fieldname === "purpose") {
            purpose = String(part.value);
          }
        }
        if (!saved) throw badRequest("file is required: send it in a multipart part named `file`");
        if (purpose !== null && purpose !== "batch_input") {
          throw badRequest(
            `purpose: must be batch_input (attachments are uploaded with POST /api/v1/chats/upload-file)`,
          );
        }
        if (saved.size === 0) throw badRequest("file: the file is empty");
        const format = detectInputFormat(saved.originalName, saved.contentType, await readHead(ctx, saved));
        if (!format) throw badRequest("file: not a CSV, JSON or JSONL file");
        saved.meta = { format };
      } catch (err) {
        if (saved) await ctx.files.remove(saved.storagePath);
        if (
          err instanceof FileTooLargeError ||
          (err as { code?: string }).code === "FST_REQ_FILE_TOO_LARGE"
        ) {
          throw badRequest(`file: larger than the upload limit of ${ctx.config.maxUploadBytes} bytes`);
        }
        throw err;
      }
      let file: FileRecord;
      try {
        file = await ctx.store.createFile(saved);
      } catch (err) {
        await ctx.files.remove(saved.storagePath);
        throw err;
      }
      request.log.info({ file_id: file.id, size: file.size }, "batch input file uploaded");
      return reply.code(201).send(ok(batchFileToWire(file)));
    },
  );

  app.get(
    "/files/:id",
    {
      schema: {
        tags,
        summary: "Get a batch input file's metadata",
        params: Type.Object({ id: Type.String() }),
      },
    },
    async (request) => {
      const file = await ctx.store.getFile(request.workspace.id, request.params.id);
      if (file?.purpose !== "batch_input") throw notFound("File");
      return ok(batchFileToWire(file));
    },
  );
}
