/**
 * The claim's statements: which items a claim takes from a batch (`claimSql`, the first pending
 * ones in seq order, of a batch still in progress) and the columns it returns of each.
 */
import type { ClaimedItem } from "../items.js";
import { Deltas } from "./counters.js";
import {
  type DriverCapabilities,
  type Row,
  type SqlDriver,
  type SqlTransaction,
  skipLocked,
  updateVerb,
} from "./driver.js";
import { toClaimedItem } from "./rows.js";

/** What a claim returns of each item: what `toClaimedItem` reads (not the results' columns). */
const CLAIMED_COLUMNS = `id, batch_id, seq, attempts, interruptions, custom_id, agent_id, agent_version, message,
  external_user_id, name, attached_file_uuids, history_id, context, metadata, webhook, request_json`;

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
 * The claim of several batches in one UPDATE (drivers without `writingCtes`): the items of each
 * batch are chosen as `claimSql` chooses them, each batch's choice a term of one `UNION ALL`.
 * One statement per batch was 155 claim UPDATEs per 5,000 items on SQLite for ~40 claims
 * (bench/README.md, "Issue 17.5"). Texts are built once per batch count.
 */
const claimAllTexts = new Map<string, string>();
function claimAllSql(db: { capabilities: DriverCapabilities }, batches: number): string {
  const verb = updateVerb(db);
  const key = `${verb}:${batches}`;
  let sql = claimAllTexts.get(key);
  if (sql === undefined) {
    const term = `SELECT id FROM (SELECT i.id FROM batch_items i JOIN batches b ON b.id = i.batch_id
                    WHERE i.batch_id = ? AND i.status = 'pending' AND i.not_before <= ? AND b.status = 'in_progress'
                    ORDER BY i.seq LIMIT ?)`;
    sql = `${verb} batch_items SET status = 'processing', lease_owner = ?, lease_expires_at = ?, attempts = attempts + 1
       WHERE id IN (${new Array(batches).fill(term).join(" UNION ALL ")})
       RETURNING ${CLAIMED_COLUMNS}`;
    claimAllTexts.set(key, sql);
  }
  return sql;
}

function claimAllParams(
  owner: string,
  batchIds: string[],
  shares: Map<string, number>,
  leaseMs: number,
  now: number,
): unknown[] {
  const params: unknown[] = [owner, now + leaseMs];
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
 * A claim of several batches as one transaction (drivers without `writingCtes`): one UPDATE for
 * all of them (`claimAllSql`), then the counters of every batch looked at, each stamped
 * `last_claimed_at`, also one that gave nothing.
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
  const rows: Row[] = await tx.all(
    claimAllSql(db, batchIds.length),
    claimAllParams(owner, batchIds, shares, leaseMs, now),
  );
  const deltas = new Deltas();
  for (const batchId of batchIds) deltas.of(batchId);
  // Returned as SQLite updates them, in id order: each batch's items in seq order (ingest gives
  // ids in seq order), as one statement per batch gave them. The order is not promised (PostgreSQL's is any).
  const claimed: ClaimedItem[] = [];
  for (const r of rows) {
    const d = deltas.of(r.batch_id as string);
    d.pending -= 1;
    d.processing += 1;
    claimed.push(toClaimedItem(r, workspaceOf.get(r.batch_id as string) as string));
  }
  await deltas.write(tx, { claimedAt: now });
  return claimed;
}
