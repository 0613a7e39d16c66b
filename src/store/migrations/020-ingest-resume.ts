import type { Migration } from "./migration.js";

/**
 * Resumable background ingest: a validating batch records which process ingests it
 * (`ingest_owner`) and, with every chunk, where the ingest stands (`ingest_state`, JSON: the
 * create's read options, the last file row stored, the next seq, the row and error counts and
 * the row errors kept). When the owner stops (a deploy, a crash), another process takes the
 * batch over and reads on from the next row instead of failing it.
 */
export const migration020: Migration = {
  version: 20,
  sql: () => `
ALTER TABLE batches ADD COLUMN ingest_owner TEXT;
ALTER TABLE batches ADD COLUMN ingest_state TEXT;
`,
};
