import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import {
  attachmentContentType,
  attachmentKind,
  loadAttachments,
  MAX_INLINE_TEXT_BYTES,
} from "../../src/files/attachments.js";
import { FileStorage } from "../../src/files/storage.js";
import type { FileRecord, Store } from "../../src/store/types.js";

const dir = mkdtempSync(join(tmpdir(), "agentbatch-attach-"));
const storage = new FileStorage({ dataDir: dir, backend: "local", blobs: undefined as never });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function stored(id: string, contentType: string, bytes: Buffer): Promise<FileRecord> {
  const storagePath = storage.pathFor(id);
  await storage.save(Readable.from([bytes]), storagePath, 10 * 1024 * 1024);
  return {
    id,
    workspaceId: "ws",
    purpose: "attachment",
    scope: "persistent",
    originalName: `${id}.bin`,
    contentType,
    size: bytes.length,
    storagePath,
    meta: null,
    createdAt: 0,
  };
}

function storeOf(files: FileRecord[]): Store {
  return {
    files: { getMany: async (_ws: string, ids: string[]) => files.filter((f) => ids.includes(f.id)) },
  } as unknown as Store;
}

describe("attachments", () => {
  it("takes the type from the name when the client sends none", () => {
    expect(attachmentContentType("application/octet-stream", "a.CSV")).toBe("text/csv");
    expect(attachmentContentType("text/plain; charset=utf-8", "a.bin")).toBe("text/plain");
    expect(attachmentContentType(undefined, "photo.jpg")).toBe("image/jpeg");
    expect(attachmentKind("application/json")).toBe("text");
    expect(attachmentKind("image/webp")).toBe("image");
    expect(attachmentKind("application/pdf")).toBeNull();
  });

  it("inlines text (cut at the cap) and sends images as base64 parts, in the order given", async () => {
    const big = await stored("big", "text/plain", Buffer.alloc(MAX_INLINE_TEXT_BYTES + 10, "a"));
    const image = await stored("img", "image/png", Buffer.from([1, 2, 3]));
    const loaded = await loadAttachments(storeOf([big, image]), storage, "ws", ["img", "big"]);
    expect(loaded.ok).toBe(true);
    if (!loaded.ok) return;
    expect(loaded.parts[0]).toEqual({ type: "image", mediaType: "image/png", dataBase64: "AQID" });
    const text = loaded.parts[1];
    expect(text.type).toBe("text");
    if (text.type !== "text") return;
    expect(text.text).toContain(`first ${MAX_INLINE_TEXT_BYTES} of ${MAX_INLINE_TEXT_BYTES + 10} bytes`);
    expect(text.text.length).toBeLessThan(MAX_INLINE_TEXT_BYTES + 200);
  });

  it("names a file that is gone", async () => {
    const loaded = await loadAttachments(storeOf([]), storage, "ws", ["gone"]);
    expect(loaded).toEqual({ ok: false, message: "attached file gone not found (deleted?)" });
  });
});
