import type { BlobChunk, BlobStore } from "../blobs.js";
import type { Row, SqlDriver } from "./driver.js";
import { n } from "./rows.js";

/** Chunks of file bytes in `file_chunks`: one row per chunk, read back in order. */
export class SqlBlobStore implements BlobStore {
  constructor(private readonly db: SqlDriver) {}

  async putChunk(key: string, seq: number, data: Uint8Array): Promise<void> {
    const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    await this.db.run(
      `INSERT INTO file_chunks (storage_key, seq, size, data) VALUES (?, ?, ?, ?)
       ON CONFLICT (storage_key, seq) DO UPDATE SET size = excluded.size, data = excluded.data`,
      [key, seq, bytes.length, bytes],
    );
  }

  async getChunks(key: string, fromSeq: number, limit: number): Promise<BlobChunk[]> {
    const rows = await this.db.all(
      "SELECT seq, data FROM file_chunks WHERE storage_key = ? AND seq >= ? ORDER BY seq LIMIT ?",
      [key, fromSeq, limit],
    );
    return rows.map((r) => ({ seq: n(r.seq), data: r.data as Buffer }));
  }

  async size(key: string): Promise<number> {
    const row = (await this.db.get(
      "SELECT COALESCE(SUM(size), 0) AS s FROM file_chunks WHERE storage_key = ?",
      [key],
    )) as Row;
    return n(row.s);
  }

  async remove(key: string): Promise<void> {
    await this.db.run("DELETE FROM file_chunks WHERE storage_key = ?", [key]);
  }
}
