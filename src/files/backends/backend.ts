import type { Readable, Writable } from "node:stream";

/** Where a file's bytes live: the data directory, the database, or an S3-compatible bucket. */
export type BackendName = "local" | "db" | "s3";

/** A byte range of a file, inclusive at both ends (as `fs.createReadStream` takes it). */
export interface ByteRange {
  start?: number;
  end?: number;
}

/**
 * One place file bytes are kept, addressed by a key (`ab/abcdef...`). Streams only: no backend
 * holds a whole file in memory.
 */
export interface BlobBackend {
  readonly name: BackendName;
  /** A stream that stores what is written under `key`; it emits `finish` once the bytes are stored. */
  createWriteStream(key: string): Writable;
  /** The bytes under `key` (or a range of them); errors on the stream if there are none. */
  open(key: string, range?: ByteRange): Readable;
  size(key: string): Promise<number>;
  /** Deletes the bytes under `key`; nothing when there are none. */
  remove(key: string): Promise<void>;
}
