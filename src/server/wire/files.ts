/** How batch input files look on the wire (the OpenAI Files shape, plus the detected input format). */
import { iso } from "../../domain/time.js";
import type { FileRecord } from "../../store/types.js";

export function batchFileToWire(f: FileRecord) {
  return {
    id: f.id,
    object: "file",
    filename: f.originalName,
    bytes: f.size,
    created_at: iso(f.createdAt),
    purpose: f.purpose,
    content_type: f.contentType,
    format: (f.meta?.format as string | undefined) ?? null,
  };
}
