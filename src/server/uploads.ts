/**
 * Multipart uploads of the Codeer API (batch input files and attachments): exactly one file, in
 * the part named `file`, streamed to disk by the caller's `save`; a file left behind by a failed
 * upload is removed.
 */
import type { MultipartFile } from "@fastify/multipart";
import type { FastifyRequest } from "fastify";
import { FileTooLargeError } from "../files/storage.js";
import type { FileRecord } from "../store/types.js";
import type { AppContext } from "./context.js";
import { badRequest, payloadTooLarge } from "./errors.js";

export interface UploadForm {
  /** The 400 for a request that is not multipart/form-data. */
  notMultipart: string;
  /** The 400 for a file over the size limit. */
  tooLarge: string;
  /** Streams the `file` part to disk; the row is written by `storeUpload`. */
  save: (part: MultipartFile) => Promise<FileRecord>;
  /**
   * The text fields the form takes, each read by its function (throwing rejects the upload); any
   * other field is a 400 naming it, never ignored.
   */
  fields?: Record<string, (value: string) => void>;
  /** Checks the saved file once the form is read (throwing rejects the upload). */
  check?: (saved: FileRecord) => Promise<void>;
}

/** Reads the form: the saved file, or a 400 (and nothing left on disk). */
export async function receiveUpload(
  ctx: AppContext,
  request: FastifyRequest,
  form: UploadForm,
): Promise<FileRecord> {
  if (!request.isMultipart()) throw badRequest(form.notMultipart);
  let saved: FileRecord | null = null;
  try {
    for await (const part of request.parts()) {
      if (part.type !== "file") {
        readField(form, part.fieldname, String(part.value));
        continue;
      }
      if (part.fieldname !== "file" || saved) {
        part.file.resume();
        throw badRequest(`${part.fieldname}: send exactly one file, in the part named \`file\``);
      }
      saved = await form.save(part);
    }
    if (!saved) throw badRequest("file is required: send it in a multipart part named `file`");
    await form.check?.(saved);
    return saved;
  } catch (err) {
    if (saved) await ctx.files.remove(saved.storagePath);
    if (err instanceof FileTooLargeError || (err as { code?: string }).code === "FST_REQ_FILE_TOO_LARGE") {
      throw badRequest(form.tooLarge);
    }
    throw err;
  }
}

function readField(form: UploadForm, name: string, value: string): void {
  const read = form.fields && Object.hasOwn(form.fields, name) ? form.fields[name] : undefined;
  if (!read) {
    const known = ["file", ...Object.keys(form.fields ?? {})].join(", ");
    throw badRequest(`${name} is not a known form field; this upload takes ${known}`);
  }
  read(value);
}

/**
 * The workspace's storage quota (`files.workspaceQuotaBytes`): a file that would take the
 * workspace's stored bytes past it is refused with 413 saying the quota and the use.
 */
export async function assertWithinQuota(ctx: AppContext, file: FileRecord): Promise<void> {
  const quota = ctx.config.files.workspaceQuotaBytes;
  if (!quota) return;
  const used = await ctx.store.files.totalBytes(file.workspaceId);
  if (used + file.size > quota) {
    throw payloadTooLarge(
      `file: this workspace's storage quota of ${quota} bytes would be exceeded (${used} bytes stored, this file ${file.size}); delete files to make room`,
    );
  }
}

/** Writes the row of a received file (removing the file if the row cannot be written or is over quota). */
export async function storeUpload(ctx: AppContext, saved: FileRecord): Promise<FileRecord> {
  try {
    await assertWithinQuota(ctx, saved);
    return await ctx.store.files.create(saved);
  } catch (err) {
    await ctx.files.remove(saved.storagePath);
    throw err;
  }
}
