/** Numbered schema migrations for SQLite; each runs once, in order, inside a transaction. */
export const sqliteMigrations: { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
CREATE TABLE workspaces (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  whitelist_enabled INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE TABLE api_keys (
  key_hash TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  prefix TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE agents (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  name TEXT NOT NULL,
  description TEXT,
  model TEXT NOT NULL,
  system_prompt TEXT,
  temperature REAL,
  max_tokens INTEGER,
  settings TEXT NOT NULL DEFAULT '{}',
  published_version INTEGER,
  published_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX agents_workspace ON agents(workspace_id, created_at);
CREATE TABLE agent_versions (
  agent_id TEXT NOT NULL REFERENCES agents(id),
  version INTEGER NOT NULL,
  name TEXT NOT NULL,
  model TEXT NOT NULL,
  system_prompt TEXT,
  temperature REAL,
  max_tokens INTEGER,
  settings TEXT NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL,
  PRIMARY KEY (agent_id, version)
);
CREATE TABLE chats (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  agent_id TEXT,
  name TEXT,
  external_user_id TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX chats_workspace ON chats(workspace_id, created_at);
CREATE TABLE messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  chat_id INTEGER NOT NULL REFERENCES chats(id),
  group_id INTEGER,
  role TEXT NOT NULL,
  content TEXT NOT NULL,
  meta TEXT NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL
);
CREATE INDEX messages_chat ON messages(chat_id, id);
CREATE TABLE batches (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  agent_id TEXT NOT NULL,
  name TEXT,
  status TEXT NOT NULL,
  total INTEGER NOT NULL,
  succeeded INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  pending INTEGER NOT NULL,
  processing INTEGER NOT NULL DEFAULT 0,
  webhook TEXT,
  metadata TEXT,
  prompt_tokens INTEGER NOT NULL DEFAULT 0,
  completion_tokens INTEGER NOT NULL DEFAULT 0,
  cost REAL NOT NULL DEFAULT 0,
  error_message TEXT,
  last_claimed_at INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  completed_at INTEGER,
  cancelled_at INTEGER,
  paused_at INTEGER,
  expires_at INTEGER NOT NULL
);
CREATE INDEX batches_workspace ON batches(workspace_id, created_at);
CREATE INDEX batches_runnable ON batches(last_claimed_at) WHERE status = 'in_progress' AND pending > 0;
CREATE INDEX batches_open ON batches(expires_at) WHERE status IN ('in_progress', 'paused', 'cancelling');
CREATE TABLE batch_items (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  batch_id TEXT NOT NULL REFERENCES batches(id),
  seq INTEGER NOT NULL,
  custom_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  agent_version INTEGER NOT NULL,
  message TEXT NOT NULL,
  external_user_id TEXT,
  name TEXT,
  attached_file_uuids TEXT,
  history_id INTEGER,
  status TEXT NOT NULL DEFAULT 'pending',
  attempts INTEGER NOT NULL DEFAULT 0,
  lease_owner TEXT,
  lease_expires_at INTEGER,
  not_before INTEGER NOT NULL DEFAULT 0,
  response_content TEXT,
  response_usage TEXT,
  error_code INTEGER,
  error_message TEXT,
  chat_id INTEGER,
  conversation_id INTEGER,
  processed_at INTEGER,
  UNIQUE (batch_id, custom_id),
  UNIQUE (batch_id, seq)
);
CREATE INDEX items_runnable ON batch_items(batch_id, seq) WHERE status = 'pending';
CREATE INDEX items_leased ON batch_items(lease_expires_at) WHERE status = 'processing';
CREATE INDEX items_by_status ON batch_items(batch_id, status, seq);
`,
  },
  {
    // Uploaded and produced files: attachments, batch input files, exports. Bytes live on disk
    // under the data directory; this row is the index.
    version: 2,
    sql: `
CREATE TABLE files (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  purpose TEXT NOT NULL,
  scope TEXT NOT NULL DEFAULT 'persistent',
  original_name TEXT NOT NULL,
  content_type TEXT NOT NULL,
  size INTEGER NOT NULL,
  storage_path TEXT NOT NULL,
  meta TEXT,
  created_at INTEGER NOT NULL,
  deleted_at INTEGER
);
CREATE INDEX files_workspace ON files(workspace_id, purpose, created_at);
`,
  },
  {
    // Live workers: each engine heartbeats its row; per-upstream limits are split among them.
    version: 6,
    sql: `
CREATE TABLE workers (
  id TEXT PRIMARY KEY,
  started_at INTEGER NOT NULL,
  last_seen INTEGER NOT NULL
);
`,
  },
  {
    // The Chat API: which files a message carried, feedback on messages, and the per-workspace
    // whitelist of external users (workspaces.whitelist_enabled switches it on).
    version: 4,
    sql: `
CREATE TABLE message_files (
  message_id INTEGER NOT NULL REFERENCES messages(id),
  file_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  PRIMARY KEY (message_id, file_id)
);
CREATE TABLE message_feedbacks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id INTEGER NOT NULL REFERENCES messages(id),
  chat_id INTEGER NOT NULL REFERENCES chats(id),
  rating TEXT NOT NULL,
  comment TEXT,
  external_user_id TEXT,
  created_at INTEGER NOT NULL
);
CREATE INDEX message_feedbacks_chat ON message_feedbacks(chat_id, message_id, id);
CREATE TABLE whitelist_users (
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  external_user_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (workspace_id, external_user_id)
);
CREATE INDEX chats_workspace_updated ON chats(workspace_id, updated_at);
`,
  },
  {
    // Batch input files, idempotent creates and client-chosen ids: what a batch was made from
    // (file, format, row-level validation errors), the hash of the create request, and the
    // per-item context/metadata objects folded from `context.*` / `metadata.*` columns.
    version: 5,
    sql: `
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
  created_at INTEGER NOT NULL,
  PRIMARY KEY (workspace_id, idem_key)
);
`,
  },
  {
    // Webhooks: the outbox of deliveries (one row per event and target, written in the same
    // transaction as the state change that causes it), per-request webhook targets on items, and
    // a count of them on the batch so that bulk failures know whether to emit request events.
    version: 3,
    sql: `
ALTER TABLE batch_items ADD COLUMN webhook TEXT;
ALTER TABLE batches ADD COLUMN item_webhooks INTEGER NOT NULL DEFAULT 0;
CREATE TABLE webhook_deliveries (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL,
  batch_id TEXT NOT NULL,
  custom_id TEXT,
  event TEXT NOT NULL,
  payload TEXT NOT NULL,
  url TEXT NOT NULL,
  secret TEXT,
  status TEXT NOT NULL DEFAULT 'pending',
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  retry_since INTEGER NOT NULL,
  last_status_code INTEGER,
  last_error TEXT,
  lease_owner TEXT,
  lease_expires_at INTEGER,
  created_at INTEGER NOT NULL,
  delivered_at INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
CREATE INDEX webhook_deliveries_batch ON webhook_deliveries(batch_id, created_at, id);
`,
  },
  {
    // The OpenAI and Anthropic batch API shapes (issue 9): a side table says which shape a batch
    // was created through and holds what only that shape needs (its input file, line-level
    // validation errors, the output and error files written once the batch ends); items may
    // carry a whole provider-neutral model request instead of an agent turn.
    version: 7,
    sql: `
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
  finalize_started_at INTEGER,
  finalized_at INTEGER,
  cancel_requested_at INTEGER,
  deleted_at INTEGER,
  created_at INTEGER NOT NULL
);
CREATE INDEX api_batches_list ON api_batches(workspace_id, shape, created_at, batch_id);
CREATE INDEX api_batches_unfinalized ON api_batches(created_at) WHERE finalized_at IS NULL;
ALTER TABLE batch_items ADD COLUMN request_json TEXT;
ALTER TABLE batch_items ADD COLUMN finish_reason TEXT;
`,
  },
];
