import type { Migration } from "./migration.js";

/**
 * Drops `items_leased` (`batch_items(lease_expires_at) WHERE status = 'processing'`): it served
 * only the lease reaper and the recovery of dead owners' items, and cost an index write on every
 * claim (the item enters it) and every outcome (it leaves it), a third of the index work of an
 * item's two status changes (issue 17.5, bench/README.md). Those queries now read the
 * `processing` range of `items_by_status (batch_id, status, seq)` per open batch (the batches of
 * the partial index `batches_open`: an item is processing only in a batch in progress, paused or
 * cancelling, since a batch settles only once none of its items is), so they read the items held
 * now (at most the engines' slots and claim buffers), not the expired ones alone.
 */
export const migration021: Migration = {
  version: 21,
  sql: () => `
DROP INDEX IF EXISTS items_leased;
`,
};
