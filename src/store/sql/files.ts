import type { FileListQuery, FileRecord, FileStore } from "../files.js";
import type { Page } from "../page.js";
import { marks, type Row, type SqlDriver, statementGroups } from "./driver.js";
import { insertFile } from "./file-rows.js";
import { n, toFile } from "./rows.js";

/** The index of stored files (soft-deleted: `deleted_at`). */
export class SqlFileStore implements FileStore {
  constructor(private readonly db: SqlDriver) {}

  async create(f: FileRecord): Promise<FileRecord> {
    return insertFile(this.db, f);
  }

  async totalBytes(workspaceId: string): Promise<number> {
    const row = await this.db.get(
      "SELECT COALESCE(SUM(size), 0) AS total FROM files WHERE workspace_id = ? AND deleted_at IS NULL",
      [workspaceId],
    );
    return Number(row?.total ?? 0);
  }

  async get(workspaceId: string, fileId: string): Promise<FileRecord | undefined> {
    const row = await this.db.get(
      "SELECT * FROM files WHERE id = ? AND workspace_id = ? AND deleted_at IS NULL",
      [fileId, workspaceId],
    );
    return row ? toFile(row) : undefined;
  }

  async getMany(workspaceId: string, fileIds: string[]): Promise<FileRecord[]> {
    const files: FileRecord[] = [];
    for (const group of statementGroups(this.db, [...new Set(fileIds)])) {
      const rows = await this.db.all(
        `SELECT * FROM files WHERE workspace_id = ? AND deleted_at IS NULL AND id IN (${marks(group.length)})`,
        [workspaceId, ...group],
      );
      for (const r of rows) files.push(toFile(r));
    }
    return files;
  }

  async list(workspaceId: string, query: FileListQuery): Promise<Page<FileRecord>> {
    const filter = query.purpose ? " AND purpose = ?" : "";
    const params = query.purpose ? [workspaceId, query.purpose] : [workspaceId];
    const rows = await this.db.all(
      `SELECT * FROM files WHERE workspace_id = ? AND deleted_at IS NULL${filter}
       ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
      [...params, query.limit, query.offset],
    );
    const total = (await this.db.get(
      `SELECT COUNT(*) AS c FROM files WHERE workspace_id = ? AND deleted_at IS NULL${filter}`,
      params,
    )) as Row;
    return { rows: rows.map(toFile), total: n(total.c) };
  }

  async delete(workspaceId: string, fileId: string, now: number): Promise<FileRecord | undefined> {
    const row = await this.db.get(
      "UPDATE files SET deleted_at = ? WHERE id = ? AND workspace_id = ? AND deleted_at IS NULL RETURNING *",
      [now, fileId, workspaceId],
    );
    return row ? toFile(row) : undefined;
  }

  async listCreatedBefore(cutoff: number, limit: number): Promise<FileRecord[]> {
    const rows = await this.db.all(
      "SELECT * FROM files WHERE deleted_at IS NULL AND created_at < ? ORDER BY created_at, id LIMIT ?",
      [cutoff, limit],
    );
    return rows.map(toFile);
  }

  async listAllAfter(afterId: string, limit: number): Promise<FileRecord[]> {
    const rows = await this.db.all(
      "SELECT * FROM files WHERE deleted_at IS NULL AND id > ? ORDER BY id LIMIT ?",
      [afterId, limit],
    );
    return rows.map(toFile);
  }

  async setStoragePath(fileId: string, storagePath: string): Promise<void> {
    await this.db.run("UPDATE files SET storage_path = ? WHERE id = ?", [storagePath, fileId]);
  }
}
