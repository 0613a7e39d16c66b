import type { Migration } from "./migration.js";

/**
 * Uploaded and produced files: attachments, batch input files, exports. Bytes live on disk
 * under the data directory; this row is the index.
 */
export const migration002: Migration = {
  version: 2,
  sql: (t) => `
CREATE TABLE files (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  purpose TEXT NOT NULL,
  scope TEXT NOT NULL DEFAULT 'persistent',
  original_name TEXT NOT NULL,
  content_type TEXT NOT NULL,
  size ${t.bigint} NOT NULL,
  storage_path TEXT NOT NULL,
  meta TEXT,
  created_at ${t.bigint} NOT NULL,
  deleted_at ${t.bigint}
);
CREATE INDEX files_workspace ON files(workspace_id, purpose, created_at);
`,
};
