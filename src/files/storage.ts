import { join } from "node:path";
import { type Readable, Transform, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { BlobStore } from "../store/types.js";
import type { BackendName, BlobBackend, ByteRange } from "./backends/backend.js";
import { DatabaseBackend } from "./backends/database.js";
import { LocalBackend } from "./backends/local.js";
import { S3Backend, type S3Settings } from "./backends/s3.js";

export type { BackendName } from "./backends/backend.js";
export type { S3Settings } from "./backends/s3.js";

export class FileTooLargeError extends Error {
  constructor(readonly limitBytes: number) {
    super(`file is larger than the limit of ${limitBytes} bytes`);
    this.name = "FileTooLargeError";
  }
}

export interface FileStorageOptions {
  dataDir: string;
  /** Where new files go. */
  backend: BackendName;
  /** File bytes in the database (`db` backend). */
  blobs: BlobStore;
  /** The bucket of the `s3` backend. */
  s3?: S3Settings;
}

/**
 * The bytes of files, in one of three backends: the data directory (SQLite's default), the
 * database (PostgreSQL's default: no shared filesystem needed), or an S3-compatible bucket. A
 * file's storage path says where its bytes are (`ab/abcd…` local, `db:ab/abcd…`, `s3:ab/abcd…`),
 * so files written before a change of backend stay readable and `files migrate` can move them.
 * Uploads are streamed with a size cap, never buffered whole; a rejected or failed upload leaves
 * nothing behind.
 */
export class FileStorage {
  private readonly backends: Partial<Record<BackendName, BlobBackend>>;
  private readonly defaultBackend: BlobBackend;

  constructor(options: FileStorageOptions) {
    this.backends = {
      local: new LocalBackend(options.dataDir),
      db: new DatabaseBackend(options.blobs),
      ...(options.s3 ? { s3: new S3Backend(options.s3) } : {}),
    };
    const chosen = this.backends[options.backend];
    if (!chosen) throw new Error(`files: the ${options.backend} backend is not configured`);
    this.defaultBackend = chosen;
  }

  /** The backend new files go to. */
  get backend(): BackendName {
    return this.defaultBackend.name;
  }

  /** A fresh storage path for a file id in the default backend (or `backend`). */
  pathFor(fileId: string, backend: BackendName = this.defaultBackend.name): string {
    const key = join(fileId.slice(0, 2), fileId);
    return backend === "local" ? key : `${backend}:${key}`;
  }

  /** The backend and key a storage path names. */
  locate(storagePath: string): { backend: BlobBackend; key: string } {
    const m = /^(db|s3):(.*)$/.exec(storagePath);
    const name: BackendName = m ? (m[1] as BackendName) : "local";
    const backend = this.backends[name];
    if (!backend) throw new Error(`files: ${storagePath} is in the ${name} backend, which is not configured`);
    return { backend, key: m ? m[2] : storagePath };
  }

  /** Streams `source` to `storagePath`; throws FileTooLargeError past `maxBytes` (and deletes the part). */
  async save(source: Readable, storagePath: string, maxBytes: number): Promise<{ size: number }> {
    let size = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > maxBytes) done(new FileTooLargeError(maxBytes));
        else done(null, chunk);
      },
    });
    try {
      await pipeline(source, limit, this.createWriteStream(storagePath));
    } catch (err) {
      await this.remove(storagePath).catch(() => {});
      // Drain what the client still sends so the connection can carry the error answer.
      source.resume();
      throw err;
    }
    return { size };
  }

  /** A write stream for a file agentbatch produces (output files); `finish` means stored. */
  createWriteStream(storagePath: string): Writable {
    const { backend, key } = this.locate(storagePath);
    return backend.createWriteStream(key);
  }

  open(storagePath: string, range?: ByteRange): Readable {
    const { backend, key } = this.locate(storagePath);
    return backend.open(key, range);
  }

  size(storagePath: string): Promise<number> {
    const { backend, key } = this.locate(storagePath);
    return backend.size(key);
  }

  async remove(storagePath: string): Promise<void> {
    const { backend, key } = this.locate(storagePath);
    await backend.remove(key);
  }

  async close(): Promise<void> {
    const s3 = this.backends.s3;
    if (s3 instanceof S3Backend) await s3.close();
  }
}
