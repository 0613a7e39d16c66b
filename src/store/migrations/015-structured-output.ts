import type { Migration } from "./migration.js";

/**
 * Structured output: an agent's `response_format` (JSON, kept with each published version) and
 * the parsed answer of an item that used it (`response_json`, JSON text).
 */
export const migration015: Migration = {
  version: 15,
  sql: () => `
ALTER TABLE agents ADD COLUMN response_format TEXT;
ALTER TABLE agent_versions ADD COLUMN response_format TEXT;
ALTER TABLE batch_items ADD COLUMN response_json TEXT;
`,
};
