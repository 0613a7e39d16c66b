import type { Migration } from "./migration.js";

/**
 * The prompt tokens providers served from their prompt cache, summed per batch beside
 * `prompt_tokens` (moved in the same counter writes), for the OpenAI batch object's
 * `usage.input_tokens_details.cached_tokens`. Batches that ran before start at 0: their items'
 * cached counts are only in `response_detail`, which is not re-read.
 */
export const migration018: Migration = {
  version: 18,
  sql: (t) => `
ALTER TABLE batches ADD COLUMN cached_prompt_tokens ${t.bigint} NOT NULL DEFAULT 0;
`,
};
