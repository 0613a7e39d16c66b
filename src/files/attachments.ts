import { extname } from "node:path";
import type { ContentPart } from "../providers/types.js";
import type { FileRecord, Store } from "../store/types.js";
import type { AttachmentBudget } from "./attachment-budget.js";
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

export type LoadedAttachments =
  | {
      ok: true;
      parts: ContentPart[];
      /** Gives the memory the parts take back to the budget (once the model call is over). */
      release?: () => void;
    }
  | { ok: false; message: string; stopped?: boolean };

/** Bounds on the attachments of one turn and of the process (the engine's items). */
export interface AttachmentLimits {
  /** Most bytes of files one turn may attach. */
  itemBytes: number;
  /** The bytes of attachments all the turns of this process hold in memory at once. */
  budget: AttachmentBudget;
  /** Ends a wait for room in the budget (the item was stopped). */
  signal?: AbortSignal;
}

/** The memory a file takes as a content part: an image's bytes and base64 copy, a text's (cut) bytes and string. */
function memoryOf(file: FileRecord): number {
  const kind = attachmentKind(file.contentType);
  return kind === "image" ? Math.ceil((file.size * 7) / 3) : Math.min(file.size, MAX_INLINE_TEXT_BYTES) * 3;
}

/**
 * Turns the files attached to a turn into content parts, in the order given: text files inline
 * (each cut at MAX_INLINE_TEXT_BYTES), images as base64 image parts (checked by their bytes). A
 * file that is gone or of a type no model takes is a failure that names it. With `limits`, the
 * files' total size is capped and their memory is reserved in the budget before they are read.
 */
export async function loadAttachments(
  store: Store,
  storage: FileStorage,
  workspaceId: string,
  fileIds: string[],
  limits?: AttachmentLimits,
): Promise<LoadedAttachments> {
  if (fileIds.length === 0) return { ok: true, parts: [] };
  const found = new Map((await store.files.getMany(workspaceId, fileIds)).map((f) => [f.id, f]));
  const files: FileRecord[] = [];
  for (const id of fileIds) {
    const file = found.get(id);
    if (!file) return { ok: false, message: `attached file ${id} not found (deleted?)` };
    if (attachmentKind(file.contentType) === null) {
      return { ok: false, message: `attached file ${id} is ${file.contentType}, which no model can read` };
    }
    files.push(file);
  }
  let release: (() => void) | undefined;
  if (limits) {
    const total = files.reduce((sum, f) => sum + f.size, 0);
    if (total > limits.itemBytes) {
      return {
        ok: false,
        message: `the files attached to this request total ${total} bytes, over the limit of ${limits.itemBytes} bytes per request`,
      };
    }
    const granted = await limits.budget.reserve(
      files.reduce((sum, f) => sum + memoryOf(f), 0),
      limits.signal,
    );
    if (!granted) return { ok: false, message: "stopped before its attachments were read", stopped: true };
    release = granted;
  }
  const read = await readParts(storage, files);
  if (!read.ok) release?.();
  return read.ok ? { ...read, release } : read;
}

async function readParts(storage: FileStorage, files: FileRecord[]): Promise<LoadedAttachments> {
  const parts: ContentPart[] = [];
  for (const file of files) {
    try {
      const part =
        attachmentKind(file.contentType) === "text"
          ? await textPart(storage, file)
          : await imagePart(storage, file);
      if (typeof part === "string") return { ok: false, message: part };
      parts.push(part);
    } catch (err) {
      return { ok: false, message: `attached file ${file.id} cannot be read: ${(err as Error).message}` };
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

/** The image part, or why the file's bytes are not the image its type says. */
async function imagePart(storage: FileStorage, file: FileRecord): Promise<ContentPart | string> {
  const bytes = await readAll(storage, file.storagePath);
  const sniffed = imageTypeOf(bytes);
  if (!sniffed) {
    return `attached file ${file.id} is declared ${file.contentType} but its bytes are not a PNG, JPEG, GIF or WebP image`;
  }
  return { type: "image", mediaType: sniffed, dataBase64: bytes.toString("base64") };
}

/** The image type of these bytes by their signature, or null when they are no image a model takes. */
export function imageTypeOf(bytes: Uint8Array): string | null {
  const starts = (sig: number[], at = 0) => sig.every((b, i) => bytes[at + i] === b);
  if (starts([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return "image/png";
  if (starts([0xff, 0xd8, 0xff])) return "image/jpeg";
  if (starts([0x47, 0x49, 0x46, 0x38])) return "image/gif";
  if (starts([0x52, 0x49, 0x46, 0x46]) && starts([0x57, 0x45, 0x42, 0x50], 8)) return "image/webp";
  return null;
}

async function readAll(storage: FileStorage, relPath: string, maxBytes?: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const stream = storage.open(relPath, maxBytes === undefined ? undefined : { start: 0, end: maxBytes - 1 });
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
