import { extname } from "node:path";
import type { ContentPart } from "../providers/types.js";
import type { FileRecord, Store } from "../store/types.js";
import type { FileStorage } from "./storage.js";

/**
 * What can be attached to a message: only what can really be handed to a model. Text goes
 * inline in the prompt; images go as image parts (providers that take no images see a marker).
 */
export type AttachmentKind = "text" | "image";

const IMAGE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];
const TEXT_APPLICATION_TYPES = [
  "application/json",
  "application/x-ndjson",
  "application/jsonl",
  "application/xml",
  "application/yaml",
  "application/x-yaml",
];

/** Types guessed from the file name when the client sends none or application/octet-stream. */
const BY_EXTENSION: Record<string, string> = {
  ".txt": "text/plain",
  ".md": "text/markdown",
  ".markdown": "text/markdown",
  ".csv": "text/csv",
  ".tsv": "text/tab-separated-values",
  ".json": "application/json",
  ".jsonl": "application/x-ndjson",
  ".ndjson": "application/x-ndjson",
  ".xml": "application/xml",
  ".yaml": "application/yaml",
  ".yml": "application/yaml",
  ".html": "text/html",
  ".htm": "text/html",
  ".log": "text/plain",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
};

/** A one-line description of the accepted types, for error messages. */
export const ACCEPTED_ATTACHMENT_TYPES = `text/* (plain, markdown, csv, html...), ${TEXT_APPLICATION_TYPES.join(", ")}, ${IMAGE_TYPES.join(", ")}`;

/**
 * Text of one file put in a prompt at most: a file bigger than this is cut, with a note saying
 * so, rather than spending a whole context window (and TPM budget) on one attachment.
 */
export const MAX_INLINE_TEXT_BYTES = 200_000;

/** The media type without parameters, lower case; guessed from the name when the client did not say. */
export function attachmentContentType(declared: string | undefined, fileName: string): string {
  const base = (declared ?? "").split(";")[0].trim().toLowerCase();
  if (base && base !== "application/octet-stream") return base;
  return BY_EXTENSION[extname(fileName).toLowerCase()] ?? (base || "application/octet-stream");
}

/** How a file of this type reaches the model, or null if it cannot. */
export function attachmentKind(contentType: string): AttachmentKind | null {
  if (IMAGE_TYPES.includes(contentType)) return "image";
  if (contentType.startsWith("text/") || TEXT_APPLICATION_TYPES.includes(contentType)) return "text";
  return null;
}

export type LoadedAttachments = { ok: true; parts: ContentPart[] } | { ok: false; message: string };

/**
 * Turns the files attached to a turn into content parts, in the order given: text files inline
 * (each cut at MAX_INLINE_TEXT_BYTES), images as base64 image parts. A file that is gone or of a
 * type no model takes is a failure that names it.
 */
export async function loadAttachments(
  store: Store,
  storage: FileStorage,
  workspaceId: string,
  fileIds: string[],
): Promise<LoadedAttachments> {
  if (fileIds.length === 0) return { ok: true, parts: [] };
  const found = new Map((await store.files.getMany(workspaceId, fileIds)).map((f) => [f.id, f]));
  const parts: ContentPart[] = [];
  for (const id of fileIds) {
    const file = found.get(id);
    if (!file) return { ok: false, message: `attached file ${id} not found (deleted?)` };
    const kind = attachmentKind(file.contentType);
    if (kind === null) {
      return { ok: false, message: `attached file ${id} is ${file.contentType}, which no model can read` };
    }
    try {
      parts.push(kind === "text" ? await textPart(storage, file) : await imagePart(storage, file));
    } catch (err) {
      return { ok: false, message: `attached file ${id} cannot be read: ${(err as Error).message}` };
    }
  }
  return { ok: true, parts };
}

async function textPart(storage: FileStorage, file: FileRecord): Promise<ContentPart> {
  const cut = file.size > MAX_INLINE_TEXT_BYTES;
  const bytes = await readAll(storage, file.storagePath, cut ? MAX_INLINE_TEXT_BYTES : undefined);
  let text = new TextDecoder("utf-8").decode(bytes);
  if (cut) text += `\n[truncated: the first ${MAX_INLINE_TEXT_BYTES} of ${file.size} bytes]`;
  return { type: "text", text: `Attached file "${file.originalName}" (${file.contentType}):\n${text}` };
}

async function imagePart(storage: FileStorage, file: FileRecord): Promise<ContentPart> {
  const bytes = await readAll(storage, file.storagePath);
  return { type: "image", mediaType: file.contentType, dataBase64: bytes.toString("base64") };
}

async function readAll(storage: FileStorage, relPath: string, maxBytes?: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const stream = storage.open(relPath, maxBytes === undefined ? undefined : { start: 0, end: maxBytes - 1 });
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
