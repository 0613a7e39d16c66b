import type { Migration } from "./migration.js";

/**
 * API keys can be revoked (`agentbatch keys revoke`), show when they were last used, and say
 * where they came from (`env`: the AGENTBATCH_API_KEY of a server start, revoked when it changes).
 * /metrics counts batches by status from an index rather than the table.
 */
export const migration013: Migration = {
  version: 13,
  sql: (t) => `
ALTER TABLE api_keys ADD COLUMN revoked_at ${t.bigint};
ALTER TABLE api_keys ADD COLUMN last_used_at ${t.bigint};
ALTER TABLE api_keys ADD COLUMN source TEXT;
CREATE INDEX batches_status ON batches(status);
`,
};
