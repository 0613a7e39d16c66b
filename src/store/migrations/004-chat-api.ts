import type { Migration } from "./migration.js";

/**
 * The Chat API: which files a message carried, feedback on messages, and the per-workspace
 * whitelist of external users (workspaces.whitelist_enabled switches it on).
 */
export const migration004: Migration = {
  version: 4,
  sql: (t) => `
CREATE TABLE message_files (
  message_id ${t.bigint} NOT NULL REFERENCES messages(id),
  file_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  PRIMARY KEY (message_id, file_id)
);
CREATE TABLE message_feedbacks (
  id ${t.serialPk},
  message_id ${t.bigint} NOT NULL REFERENCES messages(id),
  chat_id ${t.bigint} NOT NULL REFERENCES chats(id),
  rating TEXT NOT NULL,
  comment TEXT,
  external_user_id TEXT,
  created_at ${t.bigint} NOT NULL
);
CREATE INDEX message_feedbacks_chat ON message_feedbacks(chat_id, message_id, id);
CREATE TABLE whitelist_users (
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  external_user_id TEXT NOT NULL,
  created_at ${t.bigint} NOT NULL,
  PRIMARY KEY (workspace_id, external_user_id)
);
CREATE INDEX chats_workspace_updated ON chats(workspace_id, updated_at);
`,
};
