import type { Migration } from "./migration.js";

/**
 * Webhooks: the outbox of deliveries (one row per event and target, written in the same
 * transaction as the state change that causes it), per-request webhook targets on items, and
 * a count of them on the batch so that bulk failures know whether to emit request events.
 */
export const migration003: Migration = {
  version: 3,
  sql: (t) => `
ALTER TABLE batch_items ADD COLUMN webhook TEXT;
ALTER TABLE batches ADD COLUMN item_webhooks INTEGER NOT NULL DEFAULT 0;
CREATE TABLE webhook_deliveries (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL,
  batch_id TEXT NOT NULL,
  custom_id TEXT,
  event TEXT NOT NULL,
  payload TEXT NOT NULL,
  url TEXT NOT NULL,
  secret TEXT,
  status TEXT NOT NULL DEFAULT 'pending',
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at ${t.bigint} NOT NULL,
  retry_since ${t.bigint} NOT NULL,
  last_status_code INTEGER,
  last_error TEXT,
  lease_owner TEXT,
  lease_expires_at ${t.bigint},
  created_at ${t.bigint} NOT NULL,
  delivered_at ${t.bigint}
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
CREATE INDEX webhook_deliveries_batch ON webhook_deliveries(batch_id, created_at, id);
`,
};
