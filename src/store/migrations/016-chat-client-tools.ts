import type { Migration } from "./migration.js";

/**
 * A chat turn waiting on client tool calls: the turn itself (one row per chat, at most one
 * pending turn) and the steps it made so far, replayed when the outputs come.
 */
export const migration016: Migration = {
  version: 16,
  sql: (t) => `
CREATE TABLE chat_pending_turns (
  chat_id ${t.bigint} PRIMARY KEY REFERENCES chats(id),
  turn TEXT NOT NULL,
  calls TEXT NOT NULL,
  created_at ${t.bigint} NOT NULL
);
CREATE TABLE chat_turn_steps (
  chat_id ${t.bigint} NOT NULL REFERENCES chats(id),
  step_index INTEGER NOT NULL,
  kind TEXT NOT NULL,
  payload TEXT NOT NULL,
  prompt_tokens ${t.bigint} NOT NULL DEFAULT 0,
  completion_tokens ${t.bigint} NOT NULL DEFAULT 0,
  duration_ms ${t.bigint} NOT NULL DEFAULT 0,
  created_at ${t.bigint} NOT NULL,
  PRIMARY KEY (chat_id, step_index)
);
`,
};
