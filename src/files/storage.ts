import { createReadStream, createWriteStream, mkdirSync, type ReadStream } from "node:fs";
import { rm, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { type Readable, Transform, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";

export class FileTooLargeError extends Error {
  constructor(readonly limitBytes: number) {
    super(`file is larger than the limit of ${limitBytes} bytes`);
    this.name = "FileTooLargeError";
  }
}

/**
 * The bytes of files, on disk under `<dataDir>/files/`. Uploads are streamed to disk with a size
 * cap, never buffered whole; a rejected or failed upload leaves nothing behind.
 */
export class FileStorage {
  readonly root: string;

  constructor(dataDir: string) {
    this.root = resolve(dataDir, "files");
    mkdirSync(this.root, { recursive: true });
  }

  /** A fresh relative path for a file id (two-character fan-out keeps directories small). */
  pathFor(fileId: string): string {
    return join(fileId.slice(0, 2), fileId);
  }

  private abs(relPath: string): string {
    const p = resolve(this.root, relPath);
    if (!p.startsWith(this.root)) throw new Error("file path escapes the storage root");
    return p;
  }

  /** Streams `source` to `relPath`; throws FileTooLargeError past `maxBytes` (and deletes the part). */
  async save(source: Readable, relPath: string, maxBytes: number): Promise<{ size: number }> {
    const target = this.abs(relPath);
    mkdirSync(dirname(target), { recursive: true });
    let size = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > maxBytes) done(new FileTooLargeError(maxBytes));
        else done(null, chunk);
      },
    });
    try {
      await pipeline(source, limit, createWriteStream(target));
    } catch (err) {
      await rm(target, { force: true });
      // Drain what the client still sends so the connection can carry the error answer.
      source.resume();
      throw err;
    }
    return { size };
  }

  /** A write stream for a file agentbatch produces (exports, output files). */
  createWriteStream(relPath: string): Writable {
    const target = this.abs(relPath);
    mkdirSync(dirname(target), { recursive: true });
    return createWriteStream(target);
  }

  open(relPath: string, options?: { start?: number; end?: number }): ReadStream {
    return createReadStream(this.abs(relPath), options);
  }

  async size(relPath: string): Promise<number> {
    return (await stat(this.abs(relPath))).size;
  }

  async remove(relPath: string): Promise<void> {
    await rm(this.abs(relPath), { force: true });
  }
}
