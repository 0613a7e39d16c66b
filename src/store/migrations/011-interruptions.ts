import type { Migration } from "./migration.js";

/**
 * How often an item was in flight when its worker died or stalled, counted apart from its
 * attempts (upstream failures): a crash spends no attempt, and an item interrupted too often is
 * quarantined.
 */
export const migration011: Migration = {
  version: 11,
  sql: () => `
ALTER TABLE batch_items ADD COLUMN interruptions INTEGER NOT NULL DEFAULT 0;
`,
};
