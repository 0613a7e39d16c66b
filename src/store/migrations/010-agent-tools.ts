import type { Migration, SqlTypes } from "./migration.js";

/**
 * Agents that act: an agent's (and a published version's) `tools` and `max_steps`, and the
 * durable steps of a tool-using turn (each model reply and each tool result, stored as it
 * completes, so that a resumed item never asks for or fetches one again), and the client tool
 * calls an item waits on (answered through `POST /batches/{id}/tool-outputs`).
 */
const steps = (t: SqlTypes) => `
CREATE TABLE item_steps (
  item_id ${t.bigint} NOT NULL,
  step_index INTEGER NOT NULL,
  kind TEXT NOT NULL,
  payload TEXT NOT NULL,
  prompt_tokens ${t.bigint} NOT NULL DEFAULT 0,
  completion_tokens ${t.bigint} NOT NULL DEFAULT 0,
  duration_ms ${t.bigint} NOT NULL DEFAULT 0,
  created_at ${t.bigint} NOT NULL,
  PRIMARY KEY (item_id, step_index)
);
CREATE TABLE item_tool_calls (
  call_id TEXT PRIMARY KEY,
  batch_id TEXT NOT NULL,
  item_id ${t.bigint} NOT NULL,
  step_index INTEGER NOT NULL,
  provider_id TEXT NOT NULL,
  tool TEXT NOT NULL,
  arguments TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending',
  created_at ${t.bigint} NOT NULL,
  answered_at ${t.bigint}
);
CREATE INDEX item_tool_calls_batch ON item_tool_calls(batch_id, status, created_at);
CREATE INDEX item_tool_calls_item ON item_tool_calls(item_id, status);
`;

export const migration010: Migration = {
  version: 10,
  sql: (t) => `
ALTER TABLE agents ADD COLUMN tools TEXT NOT NULL DEFAULT '[]';
ALTER TABLE agents ADD COLUMN max_steps INTEGER NOT NULL DEFAULT 10;
ALTER TABLE agent_versions ADD COLUMN tools TEXT NOT NULL DEFAULT '[]';
ALTER TABLE agent_versions ADD COLUMN max_steps INTEGER NOT NULL DEFAULT 10;
ALTER TABLE batches ADD COLUMN awaiting ${t.bigint} NOT NULL DEFAULT 0;
${steps(t)}`,
};
