import type { Migration, SqlTypes } from "./migration.js";

const workspaces = (t: SqlTypes) => `
CREATE TABLE workspaces (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  whitelist_enabled INTEGER NOT NULL DEFAULT 0,
  created_at ${t.bigint} NOT NULL
);
`;

const apiKeys = (t: SqlTypes) => `
CREATE TABLE api_keys (
  key_hash TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  prefix TEXT NOT NULL,
  created_at ${t.bigint} NOT NULL
);
`;

const agents = (t: SqlTypes) => `
CREATE TABLE agents (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  name TEXT NOT NULL,
  description TEXT,
  model TEXT NOT NULL,
  system_prompt TEXT,
  temperature ${t.real},
  max_tokens ${t.bigint},
  settings TEXT NOT NULL DEFAULT '{}',
  published_version INTEGER,
  published_at ${t.bigint},
  created_at ${t.bigint} NOT NULL,
  updated_at ${t.bigint} NOT NULL
);
CREATE INDEX agents_workspace ON agents(workspace_id, created_at);
`;

const agentVersions = (t: SqlTypes) => `
CREATE TABLE agent_versions (
  agent_id TEXT NOT NULL REFERENCES agents(id),
  version INTEGER NOT NULL,
  name TEXT NOT NULL,
  model TEXT NOT NULL,
  system_prompt TEXT,
  temperature ${t.real},
  max_tokens ${t.bigint},
  settings TEXT NOT NULL DEFAULT '{}',
  created_at ${t.bigint} NOT NULL,
  PRIMARY KEY (agent_id, version)
);
`;

const chats = (t: SqlTypes) => `
CREATE TABLE chats (
  id ${t.serialPk},
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  agent_id TEXT,
  name TEXT,
  external_user_id TEXT,
  created_at ${t.bigint} NOT NULL,
  updated_at ${t.bigint} NOT NULL
);
CREATE INDEX chats_workspace ON chats(workspace_id, created_at);
`;

const messages = (t: SqlTypes) => `
CREATE TABLE messages (
  id ${t.serialPk},
  chat_id ${t.bigint} NOT NULL REFERENCES chats(id),
  group_id ${t.bigint},
  role TEXT NOT NULL,
  content TEXT NOT NULL,
  meta TEXT NOT NULL DEFAULT '{}',
  created_at ${t.bigint} NOT NULL
);
CREATE INDEX messages_chat ON messages(chat_id, id);
`;

const batches = (t: SqlTypes) => `
CREATE TABLE batches (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  agent_id TEXT NOT NULL,
  name TEXT,
  status TEXT NOT NULL,
  total ${t.bigint} NOT NULL,
  succeeded ${t.bigint} NOT NULL DEFAULT 0,
  failed ${t.bigint} NOT NULL DEFAULT 0,
  pending ${t.bigint} NOT NULL,
  processing ${t.bigint} NOT NULL DEFAULT 0,
  webhook TEXT,
  metadata TEXT,
  prompt_tokens ${t.bigint} NOT NULL DEFAULT 0,
  completion_tokens ${t.bigint} NOT NULL DEFAULT 0,
  cost ${t.real} NOT NULL DEFAULT 0,
  error_message TEXT,
  last_claimed_at ${t.bigint} NOT NULL DEFAULT 0,
  created_at ${t.bigint} NOT NULL,
  started_at ${t.bigint},
  completed_at ${t.bigint},
  cancelled_at ${t.bigint},
  paused_at ${t.bigint},
  expires_at ${t.bigint} NOT NULL
);
CREATE INDEX batches_workspace ON batches(workspace_id, created_at);
CREATE INDEX batches_runnable ON batches(last_claimed_at) WHERE status = 'in_progress' AND pending > 0;
CREATE INDEX batches_open ON batches(expires_at) WHERE status IN ('in_progress', 'paused', 'cancelling');
`;

const batchItems = (t: SqlTypes) => `
CREATE TABLE batch_items (
  id ${t.serialPk},
  batch_id TEXT NOT NULL REFERENCES batches(id),
  seq INTEGER NOT NULL,
  custom_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  agent_version INTEGER NOT NULL,
  message TEXT NOT NULL,
  external_user_id TEXT,
  name TEXT,
  attached_file_uuids TEXT,
  history_id ${t.bigint},
  status TEXT NOT NULL DEFAULT 'pending',
  attempts INTEGER NOT NULL DEFAULT 0,
  lease_owner TEXT,
  lease_expires_at ${t.bigint},
  not_before ${t.bigint} NOT NULL DEFAULT 0,
  response_content TEXT,
  response_usage TEXT,
  error_code INTEGER,
  error_message TEXT,
  chat_id ${t.bigint},
  conversation_id ${t.bigint},
  processed_at ${t.bigint},
  UNIQUE (batch_id, custom_id),
  UNIQUE (batch_id, seq)
);
CREATE INDEX items_runnable ON batch_items(batch_id, seq) WHERE status = 'pending';
CREATE INDEX items_leased ON batch_items(lease_expires_at) WHERE status = 'processing';
CREATE INDEX items_by_status ON batch_items(batch_id, status, seq);
`;

/** The core schema: workspaces and keys, agents and versions, chats, batches and their items (the queue). */
export const migration001: Migration = {
  version: 1,
  sql: (t) =>
    [workspaces, apiKeys, agents, agentVersions, chats, messages, batches, batchItems]
      .map((table) => table(t))
      .join(""),
};
