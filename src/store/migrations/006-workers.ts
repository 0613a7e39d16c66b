import type { Migration } from "./migration.js";

/**
 * Live workers: each engine heartbeats its row; per-upstream limits are split among them.
 */
export const migration006: Migration = {
  version: 6,
  sql: (t) => `
CREATE TABLE workers (
  id TEXT PRIMARY KEY,
  started_at ${t.bigint} NOT NULL,
  last_seen ${t.bigint} NOT NULL
);
`,
};
