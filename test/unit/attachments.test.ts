import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { AttachmentBudget } from "../../src/files/attachment-budget.js";
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
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2]);
    const image = await stored("img", "image/png", png);
    const loaded = await loadAttachments(storeOf([big, image]), storage, "ws", ["img", "big"]);
    expect(loaded.ok).toBe(true);
    if (!loaded.ok) return;
    expect(loaded.parts[0]).toEqual({
      type: "image",
      mediaType: "image/png",
      dataBase64: png.toString("base64"),
    });
    const text = loaded.parts[1];
    expect(text.type).toBe("text");
    if (text.type !== "text") return;
    expect(text.text).toContain(`first ${MAX_INLINE_TEXT_BYTES} of ${MAX_INLINE_TEXT_BYTES + 10} bytes`);
    expect(text.text.length).toBeLessThan(MAX_INLINE_TEXT_BYTES + 200);
  });

  it("checks an image by its bytes and takes its type from them", async () => {
    const fake = await stored("fake", "image/png", Buffer.from("not an image at all"));
    const loaded = await loadAttachments(storeOf([fake]), storage, "ws", ["fake"]);
    expect(loaded).toEqual({
      ok: false,
      message:
        "attached file fake is declared image/png but its bytes are not a PNG, JPEG, GIF or WebP image",
    });
    const jpeg = await stored("jpeg", "image/png", Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 1]));
    const sniffed = await loadAttachments(storeOf([jpeg]), storage, "ws", ["jpeg"]);
    expect(sniffed.ok && sniffed.parts[0]).toMatchObject({ type: "image", mediaType: "image/jpeg" });
  });

  it("caps the bytes one request attaches and waits for room in the process budget", async () => {
    const png = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      Buffer.alloc(3000),
    ]);
    const img = await stored("big-img", "image/png", png);
    const store = storeOf([img]);
    const budget = new AttachmentBudget(8000);
    const over = await loadAttachments(store, storage, "ws", ["big-img"], { itemBytes: 1000, budget });
    expect(over).toEqual({
      ok: false,
      message:
        "the files attached to this request total 3008 bytes, over the limit of 1000 bytes per request",
    });
    const first = await loadAttachments(store, storage, "ws", ["big-img"], { itemBytes: 10_000, budget });
    expect(first.ok).toBe(true);
    expect(budget.inUse).toBe(Math.ceil((3008 * 7) / 3));
    // A second one does not fit beside it: it waits until the first is released.
    let second: Awaited<ReturnType<typeof loadAttachments>> | null = null;
    const pending = loadAttachments(store, storage, "ws", ["big-img"], { itemBytes: 10_000, budget }).then(
      (r) => {
        second = r;
      },
    );
    await new Promise((r) => setImmediate(r));
    expect(second).toBeNull();
    if (first.ok) first.release?.();
    await pending;
    expect(second).toMatchObject({ ok: true });
    // A wait ended by the item's stop gives nothing and leaves the budget as it was.
    const stop = new AbortController();
    const stopped = loadAttachments(store, storage, "ws", ["big-img"], {
      itemBytes: 10_000,
      budget,
      signal: stop.signal,
    });
    stop.abort();
    expect(await stopped).toMatchObject({ ok: false, stopped: true });
    expect(budget.inUse).toBe(Math.ceil((3008 * 7) / 3));
  });

  it("names a file that is gone", async () => {
    const loaded = await loadAttachments(storeOf([]), storage, "ws", ["gone"]);
    expect(loaded).toEqual({ ok: false, message: "attached file gone not found (deleted?)" });
  });
});
