import type { Migration } from "./migration.js";

/**
 * File bytes in the database (the default on PostgreSQL, so a scaled-out deployment needs no
 * shared filesystem): each file is a run of chunks under its storage key, deleted with the file.
 */
export const migration008: Migration = {
  version: 8,
  sql: (t) => `
CREATE TABLE file_chunks (
  storage_key TEXT NOT NULL,
  seq INTEGER NOT NULL,
  size INTEGER NOT NULL,
  data ${t.blob} NOT NULL,
  PRIMARY KEY (storage_key, seq)
);
`,
};
