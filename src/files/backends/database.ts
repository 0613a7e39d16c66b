import { Readable, Writable } from "node:stream";
import type { BlobStore } from "../../store/types.js";
import type { BlobBackend, ByteRange } from "./backend.js";

/** Bytes per stored chunk: every chunk but a file's last is exactly this long. */
export const CHUNK_BYTES = 256 * 1024;
/** Chunks read per round trip while streaming a file out (1 MiB). */
const CHUNKS_PER_READ = 4;

/**
 * File bytes in the database (the default on PostgreSQL: API nodes and workers on different
 * machines need nothing but the database). Written and read as a stream of fixed-size chunks, so
 * at most one chunk per direction is in memory.
 */
export class DatabaseBackend implements BlobBackend {
  readonly name = "db" as const;

  constructor(private readonly blobs: BlobStore) {}

  createWriteStream(key: string): Writable {
    const blobs = this.blobs;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let seq = 0;
    const flush = async (all: boolean) => {
      let buf = Buffer.concat(pending, pendingBytes);
      while (buf.length >= CHUNK_BYTES || (all && buf.length > 0)) {
        const part = buf.subarray(0, CHUNK_BYTES);
        await blobs.putChunk(key, seq++, part);
        buf = buf.subarray(part.length);
      }
      pending = buf.length > 0 ? [buf] : [];
      pendingBytes = buf.length;
    };
    return new Writable({
      highWaterMark: CHUNK_BYTES,
      write(chunk: Buffer, _enc, done) {
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes < CHUNK_BYTES) return done();
        flush(false).then(() => done(), done);
      },
      final(done) {
        // An empty file still gets its (empty) chunk, so that it exists.
        const write = seq === 0 && pendingBytes === 0 ? blobs.putChunk(key, 0, Buffer.alloc(0)) : flush(true);
        write.then(() => done(), done);
      },
    });
  }

  open(key: string, range: ByteRange = {}): Readable {
    const blobs = this.blobs;
    const start = range.start ?? 0;
    const end = range.end ?? Number.POSITIVE_INFINITY;
    let seq = Math.floor(start / CHUNK_BYTES);
    let offset = seq * CHUNK_BYTES;
    let first = true;
    /** Pushes the next run of chunks; true when the stream has ended. */
    const next = async (stream: Readable): Promise<boolean> => {
      const chunks = await blobs.getChunks(key, seq, CHUNKS_PER_READ);
      if (first && chunks.length === 0 && seq === 0) {
        throw Object.assign(new Error(`no stored bytes for ${key}`), { code: "ENOENT" });
      }
      first = false;
      let pushed = false;
      for (const c of chunks) {
        const from = Math.max(0, start - offset);
        const to = Math.min(c.data.length, end - offset + 1);
        offset += c.data.length;
        seq = c.seq + 1;
        if (to > from) pushed = stream.push(c.data.subarray(from, to)) || true;
        if (offset > end) return true;
      }
      if (chunks.length < CHUNKS_PER_READ) return true;
      return pushed ? false : next(stream);
    };
    return new Readable({
      read() {
        next(this).then(
          (ended) => {
            if (ended) this.push(null);
          },
          (err) => this.destroy(err),
        );
      },
    });
  }

  size(key: string): Promise<number> {
    return this.blobs.size(key);
  }

  remove(key: string): Promise<void> {
    return this.blobs.remove(key);
  }
}
