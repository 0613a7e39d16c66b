import type { Migration } from "./migration.js";

/**
 * The OpenAI and Anthropic batch API shapes (issue 9): a side table says which shape a batch
 * was created through and holds what only that shape needs (its input file, line-level
 * validation errors, the output and error files written once the batch ends); items may
 * carry a whole provider-neutral model request instead of an agent turn.
 */
export const migration007: Migration = {
  version: 7,
  sql: (t) => `
CREATE TABLE api_batches (
  batch_id TEXT PRIMARY KEY REFERENCES batches(id),
  workspace_id TEXT NOT NULL,
  shape TEXT NOT NULL,
  endpoint TEXT,
  input_file_id TEXT,
  completion_window TEXT,
  line_errors TEXT,
  output_file_id TEXT,
  error_file_id TEXT,
  finalize_owner TEXT,
  finalize_started_at ${t.bigint},
  finalized_at ${t.bigint},
  cancel_requested_at ${t.bigint},
  deleted_at ${t.bigint},
  created_at ${t.bigint} NOT NULL
);
CREATE INDEX api_batches_list ON api_batches(workspace_id, shape, created_at, batch_id);
CREATE INDEX api_batches_unfinalized ON api_batches(created_at) WHERE finalized_at IS NULL;
ALTER TABLE batch_items ADD COLUMN request_json TEXT;
ALTER TABLE batch_items ADD COLUMN finish_reason TEXT;
`,
};
