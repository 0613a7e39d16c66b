import type { Migration } from "./migration.js";

/**
 * Background ingest of input files: a batch stays `validating` while its rows are stored in
 * chunks; the ingesting process refreshes `ingest_heartbeat_at` with every chunk, so a batch left
 * `validating` by a process that died is found (its heartbeat goes stale) and failed.
 *
 * Fair webhooks: each delivery records the host it targets, so the dispatcher takes due
 * deliveries round-robin across (workspace, host) and caps what it sends at once to one host.
 * Rows written before keep their whole URL as their host (a narrower group, still fair).
 */
export const migration012: Migration = {
  version: 12,
  sql: (t) => `
ALTER TABLE batches ADD COLUMN ingest_heartbeat_at ${t.bigint};
CREATE INDEX batches_validating ON batches(ingest_heartbeat_at) WHERE status = 'validating';
ALTER TABLE webhook_deliveries ADD COLUMN target_host TEXT NOT NULL DEFAULT '';
UPDATE webhook_deliveries SET target_host = url;
CREATE INDEX webhook_deliveries_host_due ON webhook_deliveries(target_host, next_attempt_at) WHERE status = 'pending';
`,
};
