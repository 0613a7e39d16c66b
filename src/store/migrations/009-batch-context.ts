import type { Migration } from "./migration.js";

/** A batch's own `context` object (seed 003), beside its `metadata`. */
export const migration009: Migration = {
  version: 9,
  sql: () => `
ALTER TABLE batches ADD COLUMN context TEXT;
`,
};
