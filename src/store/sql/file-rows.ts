import type { FileRecord } from "../files.js";
import type { Row, SqlExecutor } from "./driver.js";
import { toFile } from "./rows.js";

/** The one INSERT of a file row (uploads, and the output files written for API-shaped batches). */
export async function insertFile(exec: SqlExecutor, f: FileRecord): Promise<FileRecord> {
  const row = await exec.get(
    `INSERT INTO files (id, workspace_id, purpose, scope, original_name, content_type, size, storage_path, meta, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
    [
      f.id,
      f.workspaceId,
      f.purpose,
      f.scope,
      f.originalName,
      f.contentType,
      f.size,
      f.storagePath,
      f.meta ? JSON.stringify(f.meta) : null,
      f.createdAt,
    ],
  );
  return toFile(row as Row);
}
