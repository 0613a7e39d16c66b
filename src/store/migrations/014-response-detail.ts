import type { Migration } from "./migration.js";

/**
 * What an API-shaped item's answer holds beyond its text (issue 14): tool calls, logprobs,
 * thinking blocks, embedding vectors or a whole Responses object, as JSON, for the output
 * lines of the OpenAI and Anthropic shapes. Kept out of `response_content`, so the Codeer
 * result columns and exports never carry vectors.
 */
export const migration014: Migration = {
  version: 14,
  sql: () => `
ALTER TABLE batch_items ADD COLUMN response_detail TEXT;
`,
};
