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
];
