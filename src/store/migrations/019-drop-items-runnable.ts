import type { Migration } from "./migration.js";

/**
 * Drops `items_runnable` (`batch_items(batch_id, seq) WHERE status = 'pending'`): `items_by_status`
 * (`batch_id, status, seq`) serves every query it served, with the same index condition and
 * order, so it only cost a fifth index write per ingested row and per item leaving `pending`.
 * EXPLAIN on both stores, with and without it: SQLite (3.53) never chose it (the claim, the
 * pending-item failures and the status pages all search `items_by_status`); PostgreSQL (15) chose
 * it for the claim, and without it the claim's plan is the same index scan on `items_by_status`
 * (`batch_id = ? AND status = 'pending'`), reading as many rows (issue 17.4, bench/README.md).
 */
export const migration019: Migration = {
  version: 19,
  sql: () => `
DROP INDEX IF EXISTS items_runnable;
`,
};
