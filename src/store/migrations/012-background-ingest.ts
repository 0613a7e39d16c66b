import type { Migration } from "./migration.js";

/**
 * Background ingest of input files: a batch stays `validating` while its rows are stored in
 * chunks; the ingesting process refreshes `ingest_heartbeat_at` with every chunk, so a batch left
 * `validating` by a process that died is found (its heartbeat goes stale) and failed.
 */
export const migration012: Migration = {
  version: 12,
  sql: (t) => `
ALTER TABLE batches ADD COLUMN ingest_heartbeat_at ${t.bigint};
CREATE INDEX batches_validating ON batches(ingest_heartbeat_at) WHERE status = 'validating';
`,
};
