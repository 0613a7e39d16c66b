import type { Row, SqlExecutor } from "./driver.js";

/** The tables whose rows belong to a workspace and are read by id within it. */
type OwnedTable = "agents" | "batches" | "chats";

/** One row of `table` by id, only if it belongs to the workspace (another workspace's id reads as absent). */
export function rowInWorkspace(
  exec: SqlExecutor,
  table: OwnedTable,
  id: string | number,
  workspaceId: string,
): Promise<Row | undefined> {
  return exec.get(`SELECT * FROM ${table} WHERE id = ? AND workspace_id = ?`, [id, workspaceId]);
}
