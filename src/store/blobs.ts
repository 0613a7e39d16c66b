/** File bytes kept in the database, as numbered chunks under a storage key (files/ streams them). */

export interface BlobChunk {
  seq: number;
  data: Buffer;
}

export interface BlobStore {
  /** Stores chunk `seq` of the bytes under `key` (a chunk written again replaces the old one). */
  putChunk(key: string, seq: number, data: Uint8Array): Promise<void>;
  /** Up to `limit` chunks of `key` from `fromSeq` on, in order. */
  getChunks(key: string, fromSeq: number, limit: number): Promise<BlobChunk[]>;
  /** Total bytes under `key` (0 when there is none). */
  size(key: string): Promise<number>;
  /** Deletes every chunk of `key`. */
  remove(key: string): Promise<void>;
}
