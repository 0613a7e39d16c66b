/**
 * The claim's statements: which items a claim takes from a batch (`claimSql`, the first pending
 * ones in seq order, of a batch still in progress) and the columns it returns of each.
 */
import type { ClaimedItem } from "../items.js";
import {
  chunks,
  type DriverCapabilities,
  IN_CHUNK,
  marks,
  type Row,
  type SqlDriver,
  type SqlTransaction,
  skipLocked,
  updateVerb,
} from "./driver.js";
import { n, toClaimedItem } from "./rows.js";

/** What a claim returns of each item: what `toClaimedItem` reads (not the results' columns). */
const CLAIMED_COLUMNS = `id, batch_id, seq, attempts, interruptions, custom_id, agent_id, agent_version, message,
  external_user_id, name, attached_file_uuids, history_id, context, metadata, webhook, request_json`;

/**
 * A claimed row read as an array (`allRaw`, `CLAIMED_COLUMNS` order) as the object `toClaimedItem`
 * reads. better-sqlite3 builds a row object key by key in C++: for the claim's 17 columns that was
 * ~40 % of its SELECT's time (a micro-benchmark of 64 rows: 167 µs as objects, 100 µs as arrays),
 * where one object literal costs next to nothing.
 */
function claimedRow(v: unknown[]): Row {
  return {
    id: v[0],
    batch_id: v[1],
    seq: v[2],
    attempts: v[3],
    interruptions: v[4],
    custom_id: v[5],
    agent_id: v[6],
    agent_version: v[7],
    message: v[8],
    external_user_id: v[9],
    name: v[10],
    attached_file_uuids: v[11],
    history_id: v[12],
    context: v[13],
    metadata: v[14],
    webhook: v[15],
    request_json: v[16],
  };
}

/** `claimedRow` reads `CLAIMED_COLUMNS` by position: checked once at load, so a column added to one and not the other fails every start (and every test), not a claim. */
const CLAIMED_NAMES = CLAIMED_COLUMNS.split(/,\s*/);
if (
  Object.keys(claimedRow(CLAIMED_NAMES)).length !== CLAIMED_NAMES.length ||
  Object.entries(claimedRow(CLAIMED_NAMES)).some(([key, value]) => key !== value)
)
  throw new Error("claim-rows: claimedRow's keys are not CLAIMED_COLUMNS in order");

/**
 * One batch's claim: its first `count` runnable items (skipping those another claim holds);
 * a batch paused or cancelled since the candidate read gives nothing.
 */
export function claimSql(db: SqlDriver): string {
  return `UPDATE batch_items SET status = 'processing', lease_owner = ?, lease_expires_at = ?, attempts = attempts + 1
       WHERE id IN (SELECT i.id FROM batch_items i JOIN batches b ON b.id = i.batch_id
                    WHERE i.batch_id = ? AND i.status = 'pending' AND i.not_before <= ? AND b.status = 'in_progress'
                    ORDER BY i.seq LIMIT ?${skipLocked(db, "i")})
       RETURNING ${CLAIMED_COLUMNS}`;
}

/**
 * The claim's `LIMIT` is `(? + 0)`, not `?`: SQLite (3.47 on) reads a bare `LIMIT ?`'s bound value
 * while planning and marks the statement to be planned again whenever that parameter is bound,
 * which better-sqlite3 does on every run: the claim's SELECT (one `UNION ALL` term per batch) was
 * parsed and planned again at every claim, 55–118 µs a run in a micro-benchmark against 14–19 µs
 * (bench/README.md, "Issue 17.5, SQLite pages per item"). An expression is evaluated at run time,
 * with the same plan (the index gives `seq` order; no sort to bound).
 *
 * The claim of several batches in one transaction (drivers without `writingCtes`): the items of
 * each batch are chosen as `claimSql` chooses them, each batch's choice a term of one `UNION ALL`.
 * One statement per batch was 155 claim UPDATEs per 5,000 items on SQLite for ~40 claims
 * (bench/README.md, "Issue 17.5"). The chosen rows are read first (`claimChoiceSql`), then
 * updated by id (`claimByIdSql`), without RETURNING: SQLite runs a RETURNING clause as a trigger
 * program for every row, which cost about as much as the row's update itself (bench/README.md,
 * "Issue 17.5, fourth pass"). Texts are built once per batch count (per id bucket for the UPDATE).
 */
const claimAllTexts = new Map<string, string>();
function claimChoiceSql(batches: number): string {
  const key = `choice:${batches}`;
  let sql = claimAllTexts.get(key);
  if (sql === undefined) {
    const term = `SELECT id FROM (SELECT i.id FROM batch_items i JOIN batches b ON b.id = i.batch_id
                    WHERE i.batch_id = ? AND i.status = 'pending' AND i.not_before <= ? AND b.status = 'in_progress'
                    ORDER BY i.seq LIMIT (? + 0))`;
    sql = `SELECT ${CLAIMED_COLUMNS} FROM batch_items
       WHERE id IN (${new Array(batches).fill(term).join(" UNION ALL ")}) ORDER BY id`;
    claimAllTexts.set(key, sql);
  }
  return sql;
}

/**
 * The UPDATE by id of `ids` rows; `ids` is a bucket (`idBucket`): a text per id count was up to
 * `IN_CHUNK` texts, and as many prepared statements in the driver's cache.
 */
function claimByIdSql(db: { capabilities: DriverCapabilities }, ids: number): string {
  const verb = updateVerb(db);
  const key = `${verb}:${ids}`;
  let sql = claimAllTexts.get(key);
  if (sql === undefined) {
    sql = `${verb} batch_items SET status = 'processing', lease_owner = ?, lease_expires_at = ?, attempts = attempts + 1
       WHERE id IN (${marks(ids)}) AND status = 'pending'`;
    claimAllTexts.set(key, sql);
  }
  return sql;
}

/**
 * How many id parameters an UPDATE of `count` rows binds: the next power of two (at least 8), at
 * most `IN_CHUNK`; the rest are the last id again (an id listed twice is still one row), so a
 * claim's UPDATE has at most 8 texts whatever the claims' sizes.
 */
export function idBucket(count: number): number {
  let bucket = 8;
  while (bucket < count) bucket *= 2;
  return Math.min(bucket, IN_CHUNK);
}

function claimChoiceParams(batchIds: string[], shares: Map<string, number>, now: number): unknown[] {
  const params: unknown[] = [];
  for (const batchId of batchIds) params.push(batchId, now, shares.get(batchId) as number);
  return params;
}

export function claimParams(
  owner: string,
  batchId: string,
  count: number,
  leaseMs: number,
  now: number,
): unknown[] {
  return [owner, now + leaseMs, batchId, now, count];
}

/**
 * A claim of several batches as one transaction (drivers without `writingCtes`): the choice of
 * every batch read in one SELECT (`claimChoiceSql`), those rows updated by id, then the counters
 * of every batch looked at, each stamped `last_claimed_at`, also one that gave nothing. The
 * transaction holds the database's write lock (SQLite's `BEGIN IMMEDIATE`), so the rows read are
 * the rows updated; the UPDATE is fenced on `pending` all the same, and any row it misses throws
 * (the transaction is rolled back whole).
 */
export async function claimInTransaction(
  db: { capabilities: DriverCapabilities },
  tx: SqlTransaction,
  owner: string,
  batchIds: string[],
  shares: Map<string, number>,
  workspaceOf: Map<string, string>,
  leaseMs: number,
  now: number,
): Promise<ClaimedItem[]> {
  const raw = await tx.allRaw(claimChoiceSql(batchIds.length), claimChoiceParams(batchIds, shares, now));
  const rows = raw.map(claimedRow);
  // `chunks`, not `statementGroups`: `idBucket` pads each group's ids, which already bounds the
  // UPDATE's texts (at most 8) with one statement a group rather than one per power of two.
  for (const group of chunks(rows)) {
    const params: unknown[] = [owner, now + leaseMs];
    for (const r of group) params.push(r.id);
    const bucket = idBucket(group.length);
    const last = group[group.length - 1].id;
    for (let i = group.length; i < bucket; i++) params.push(last);
    const changed = await tx.run(claimByIdSql(db, bucket), params);
    if (changed !== group.length)
      throw new Error(`claim: ${changed} of ${group.length} chosen items updated`);
  }
  const taken = new Map<string, number>();
  for (const batchId of batchIds) taken.set(batchId, 0);
  // In id order, as the UPDATE's RETURNING gave them before: each batch's items in seq order
  // (ingest gives ids in seq order). The order is not promised (PostgreSQL's is any).
  const claimed: ClaimedItem[] = [];
  for (const r of rows) {
    taken.set(r.batch_id as string, (taken.get(r.batch_id as string) as number) + 1);
    // Read before the UPDATE: the attempt this claim starts is the next one.
    r.attempts = n(r.attempts) + 1;
    claimed.push(toClaimedItem(r, workspaceOf.get(r.batch_id as string) as string));
  }
  await stampClaimed(tx, taken, now);
  return claimed;
}

const CLAIM_COUNTERS_SQL = `UPDATE batches SET pending = pending - ?, processing = processing + ?,
       last_claimed_at = ?, started_at = COALESCE(started_at, ?) WHERE id = ?`;

/**
 * A claim's counters: each batch looked at (`taken`: how many items it gave, maybe none) moves
 * that many from pending to processing and is stamped `last_claimed_at`, one single-row UPDATE
 * per batch, in id order (the lock order of every transaction). Not `Deltas.write`: its one
 * `UPDATE … FROM (VALUES …)` with RETURNING (what a group commit's settlement reads) cost ~47 µs
 * per claim of two batches against ~7 µs for these two UPDATEs (micro-benchmark, bench/README.md,
 * "Issue 17.5, claim path"), and a claim moves no /metrics totals (every batch it took items
 * from is in progress, under the transaction's lock; one that gave nothing gets a zero delta).
 */
async function stampClaimed(tx: SqlTransaction, taken: Map<string, number>, now: number): Promise<void> {
  for (const batchId of [...taken.keys()].sort()) {
    const count = taken.get(batchId) as number;
    await tx.run(CLAIM_COUNTERS_SQL, [count, count, now, now, batchId]);
  }
}
