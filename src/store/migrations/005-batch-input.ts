import type { Migration } from "./migration.js";

/**
 * Batch input files, idempotent creates and client-chosen ids: what a batch was made from
 * (file, format, row-level validation errors), the hash of the create request, and the
 * per-item context/metadata objects folded from `context.*` / `metadata.*` columns.
 */
export const migration005: Migration = {
  version: 5,
  sql: (t) => `
ALTER TABLE batches ADD COLUMN input_file_id TEXT;
ALTER TABLE batches ADD COLUMN original_file_name TEXT;
ALTER TABLE batches ADD COLUMN input_format TEXT;
ALTER TABLE batches ADD COLUMN validation_errors TEXT;
ALTER TABLE batches ADD COLUMN request_hash TEXT;
ALTER TABLE batch_items ADD COLUMN context TEXT;
ALTER TABLE batch_items ADD COLUMN metadata TEXT;
CREATE TABLE idempotency_keys (
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  idem_key TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  batch_id TEXT NOT NULL,
  created_at ${t.bigint} NOT NULL,
  PRIMARY KEY (workspace_id, idem_key)
);
`,
};
