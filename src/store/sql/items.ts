import { fairShares, type WorkspaceShare, workspaceRoom } from "../../domain/fair-share.js";
import { CANCELLED, interruptionRule } from "../../domain/final-errors.js";
import type { BatchTransition } from "../../domain/lifecycle.js";
import { ITEM_STATUSES, type ItemStatus } from "../../domain/statuses.js";
import type {
  BatchItem,
  ClaimedItem,
  ClaimSeen,
  CommitReport,
  ItemListQuery,
  ItemOutcome,
  ItemQueue,
  ItemResultRow,
  LeaseHolder,
  StatusMap,
} from "../items.js";
import type { Page, PageQuery } from "../page.js";
import { ClaimCandidates } from "./claim-candidates.js";
import { claimInTransaction, claimParams, claimSql } from "./claim-rows.js";
import { Deltas, failPending, writeAndSettle } from "./counters.js";
import { lockInIdOrder, marks, type Row, type SqlDriver, statementGroups } from "./driver.js";
import { applyOutcomes } from "./outcomes.js";
import { n, RESULT_COLUMNS, toBatchItem, toClaimedItem, toItemResultRow } from "./rows.js";

/** The counter column that counts items of each status. */
const STATUS_COUNTER = {
  pending: "pending",
  processing: "processing",
  awaiting_tool_calls: "awaiting",
  success: "succeeded",
  failed: "failed",
} as const satisfies Record<ItemStatus, string>;

/**
 * A workspace's batches take turns in a claim this many items at a time (see `fairShares`): each
 * batch a claim touches is one UPDATE, and with 20 runnable batches the engine's small refill
 * claims were 9 statements of 3 items each (bench/throughput.mjs, 6,016 claim statements for
 * 21,000 items, a third of the process's SQLite time).
 */
const CLAIM_GRAIN = 32;

/** Claims of up to this many batches keep their statement's plan (`claimText`). */
const KEPT_CLAIM_TEXTS = 8;

const NOTHING: CommitReport = { applied: 0, discarded: 0, transitions: [], touchedBatchIds: [] };

/**
 * The batches with an item processing: a batch settles (completed, cancelled) only once none of its
 * items is processing, and a validating one is never claimed from, so they are open batches (the
 * partial index `batches_open`'s predicate) whose exact `processing` counter is above 0. Each
 * one's `processing` items are then a range of `items_by_status (batch_id, status, seq)`. The
 * reaper and the recovery of dead owners' items find held items this way (migration 021 dropped
 * the index on lease expiry that only they used: it cost an index write on every claim and every
 * outcome). `processing > 0` keeps the read proportional to the batches at work, not to every
 * open one: with thousands of paused or waiting batches open, the plain `IN (open batches)` cost
 * 6-12 ms per maintenance turn on SQLite and turned into a sequential scan of every item on
 * PostgreSQL (100-300 ms), where this reads 0.3-0.7 ms (review of migration 021).
 */
const OPEN_BATCH_IDS =
  "SELECT id FROM batches WHERE status IN ('in_progress', 'paused', 'cancelling') AND processing > 0";

/**
 * The item table as the queue. Lock order in every transaction: item rows first (in id order),
 * then batch rows in id order; with that, concurrent claims, commits, reaps and cancels on
 * PostgreSQL cannot deadlock each other. (A claim takes its item rows with SKIP LOCKED, in seq
 * order: it never waits for an item row, only for batch rows, which it locks in id order after
 * all of its item rows, also in its one-statement form, `claimInOneStatement`.)
 */
export class SqlItemQueue implements ItemQueue {
  /** The claim's candidate batches (read before every claim). */
  private readonly candidates: ClaimCandidates;
  /** `claimInOneStatement`'s text per batch count. */
  private readonly claimTexts = new Map<number, string>();

  constructor(private readonly db: SqlDriver) {
    this.candidates = new ClaimCandidates(db);
  }

  async claim(
    owner: string,
    limit: number,
    leaseMs: number,
    now: number,
    share?: WorkspaceShare,
    seen?: ClaimSeen,
  ): Promise<ClaimedItem[]> {
    const candidates = await this.candidates.read(seen?.sameWork === true);
    if (seen) seen.runnable = candidates.length > 0;
    if (candidates.length === 0) return [];
    const room = share
      ? workspaceRoom(
          candidates.map((c) => c.workspaceId),
          share,
        )
      : undefined;
    const shares = fairShares(candidates, limit, room, CLAIM_GRAIN);
    if (shares.size === 0) return [];
    const workspaceOf = new Map(candidates.map((c) => [c.id, c.workspaceId]));
    const batchIds = [...shares.keys()].sort();
    const claimed = this.db.capabilities.writingCtes
      ? (await this.claimInOneStatement(owner, batchIds, shares, leaseMs, now)).map((r) =>
          toClaimedItem(r, workspaceOf.get(r.batch_id) as string),
        )
      : await this.db.transaction((tx) =>
          claimInTransaction(this.db, tx, owner, batchIds, shares, workspaceOf, leaseMs, now),
        );
    this.candidates.claimed(shares, claimed);
    return claimed;
  }

  /**
   * The claim as one statement (PostgreSQL): each batch's claim UPDATE, then each batch's
   * counters, in one implicit transaction, in one round trip. The transaction it replaces (BEGIN,
   * an UPDATE per batch, the counter UPDATE, COMMIT) was five round trips; measured at 50 ms
   * upstream latency the claims were too slow to keep the claim-ahead buffer filled (bench/README.md,
   * "Peers"). Lock order as in every transaction: the counter UPDATEs read `claimed`, so every
   * item row is claimed (locked) before a batch row is locked, and each counter UPDATE waits
   * for the one before it (its one-time filter reads it), so batch rows are locked in id order
   * (a data dependency, not the CTEs' textual order, which PostgreSQL does not promise to follow).
   * A batch that gave nothing is still stamped `last_claimed_at`, as the transaction does. No
   * /metrics totals move: a batch an item was just claimed from cannot be finished.
   *
   * The claim commits asynchronously (`synchronous_commit = off` for this transaction only): it
   * returns before its WAL is flushed, and holds the batch rows' locks that much shorter (a group
   * commit waits for them). Crash safety: a claim lost with the last few hundred milliseconds of
   * WAL leaves its items pending with their counters (one transaction, all or nothing); its
   * worker's renewals then fail and its outcome is fenced off (lease owner and attempt), so the
   * item runs again, as after any interruption. Anything durable that depends on the claim (an
   * outcome, a renewal) commits synchronously after it, and a commit flushes the WAL up to its
   * own record, so it makes the claim durable first. What is lost is at most the claims of the
   * WAL writer's last few cycles, whose items may then be called upstream twice (as after any
   * interruption: delivery is at least once).
   */
  private claimInOneStatement(
    owner: string,
    batchIds: string[],
    shares: Map<string, number>,
    leaseMs: number,
    now: number,
  ): Promise<Row[]> {
    const params: unknown[] = [];
    for (const batchId of batchIds)
      params.push(...claimParams(owner, batchId, shares.get(batchId) as number, leaseMs, now));
    for (const batchId of batchIds) params.push(now, now, batchId, batchId);
    return this.db.all(this.claimText(batchIds.length), params);
  }

  /**
   * The one-statement claim of `batches` batches, built once per count. Up to `KEPT_CLAIM_TEXTS`
   * batches its plan is kept (`keepPlan`): planning it was ~10 % of the statement's CPU
   * (bench/README.md, "Issue 17.1, claim statement"); larger claims are rare and would each be
   * a prepared statement on every connection.
   */
  private claimText(batches: number): string {
    let sql = this.claimTexts.get(batches);
    if (sql !== undefined) return sql;
    const ctes: string[] = [];
    for (let i = 0; i < batches; i++) ctes.push(`c${i} AS (${claimSql(this.db)})`);
    ctes.push(
      `claimed AS (${Array.from({ length: batches }, (_, i) => `SELECT * FROM c${i}`).join(" UNION ALL ")})`,
    );
    for (let i = 0; i < batches; i++) {
      const after = i > 0 ? ` AND (SELECT count(*) FROM u${i - 1}) >= 0` : "";
      ctes.push(
        `u${i} AS (UPDATE batches SET pending = pending - k.n, processing = processing + k.n,
           last_claimed_at = ?, started_at = COALESCE(started_at, ?)
         FROM (SELECT count(*) AS n FROM claimed WHERE batch_id = ?) k WHERE id = ?${after} RETURNING id)`,
      );
    }
    ctes.push("async AS (SELECT set_config('synchronous_commit', 'off', true) AS v)");
    sql = `WITH ${ctes.join(",\n")} SELECT claimed.* FROM claimed, async`;
    if (batches <= KEPT_CLAIM_TEXTS) sql = this.db.keepPlan(sql);
    this.claimTexts.set(batches, sql);
    return sql;
  }

  async renewLeases(owner: string, itemIds: number[], leaseExpiresAt: number): Promise<number[]> {
    const held = new Set<number>();
    // Item rows are locked in id order, as commits lock them: in any other order a renewal and
    // a group commit of the same worker deadlock on PostgreSQL.
    for (const group of statementGroups(
      this.db,
      [...itemIds].sort((a, b) => a - b),
    )) {
      const rows = await this.db.all(
        `UPDATE batch_items SET lease_expires_at = ?
         WHERE id IN (SELECT id FROM batch_items WHERE lease_owner = ? AND status = 'processing'
                      AND id IN (${marks(group.length)})${lockInIdOrder(this.db)})
           AND lease_owner = ? AND status = 'processing' RETURNING id`,
        [leaseExpiresAt, owner, ...group, owner],
      );
      for (const r of rows) held.add(n(r.id));
    }
    return itemIds.filter((id) => !held.has(id));
  }

  async release(owner: string, items: { itemId: number; attempt: number }[]): Promise<BatchTransition[]> {
    if (items.length === 0) return [];
    return this.db.transaction(async (tx) => {
      const now = Date.now();
      const deltas = new Deltas();
      for (const it of [...items].sort((a, b) => a.itemId - b.itemId)) {
        const row = await tx.get(
          `UPDATE batch_items SET status = 'pending', attempts = attempts - 1, lease_owner = NULL, lease_expires_at = NULL
           WHERE id = ? AND lease_owner = ? AND attempts = ? AND status = 'processing' RETURNING batch_id`,
          [it.itemId, owner, it.attempt],
        );
        if (!row) continue;
        const d = deltas.of(row.batch_id);
        d.pending += 1;
        d.processing -= 1;
      }
      // A batch cancelled while these items waited fails them now, as it did its other pending items.
      for (const batchId of deltas.ids()) {
        const status = ((await tx.get("SELECT status FROM batches WHERE id = ?", [batchId])) as Row).status;
        if (status === "cancelling") await failPending(tx, batchId, CANCELLED, now, deltas);
      }
      return writeAndSettle(tx, deltas, now);
    });
  }

  async commit(outcomes: ItemOutcome[], now: number): Promise<CommitReport> {
    if (outcomes.length === 0) return NOTHING;
    return this.db.transaction((tx) => applyOutcomes(this.db, tx, outcomes, now));
  }

  async reapExpired(now: number, quarantineAfter: number): Promise<CommitReport> {
    return this.db.transaction(async (tx) => {
      const expired = await tx.all(
        `SELECT id, batch_id, lease_owner, attempts, interruptions FROM batch_items
         WHERE batch_id IN (${OPEN_BATCH_IDS}) AND status = 'processing' AND lease_expires_at < ? LIMIT 1000`,
        [now],
      );
      return applyOutcomes(this.db, tx, interrupted(expired, now, quarantineAfter), now);
    });
  }

  async runnableWorkspaces(): Promise<string[]> {
    const rows = await this.db.all(
      "SELECT DISTINCT workspace_id FROM batches WHERE status = 'in_progress' AND pending > 0",
    );
    return rows.map((r) => r.workspace_id as string);
  }

  async leaseHolders(): Promise<LeaseHolder[]> {
    const rows = await this.db.all(
      `SELECT lease_owner, MIN(lease_expires_at) AS earliest FROM batch_items
       WHERE batch_id IN (${OPEN_BATCH_IDS}) AND status = 'processing' AND lease_owner IS NOT NULL
       GROUP BY lease_owner`,
    );
    return rows.map((r) => ({ owner: r.lease_owner as string, earliestExpiry: n(r.earliest) }));
  }

  async recoverFrom(owners: string[], now: number, quarantineAfter: number): Promise<CommitReport> {
    if (owners.length === 0) return NOTHING;
    return this.db.transaction(async (tx) => {
      const held: Row[] = [];
      for (const group of statementGroups(tx, owners)) {
        held.push(
          ...(await tx.all(
            `SELECT id, batch_id, lease_owner, attempts, interruptions FROM batch_items
             WHERE batch_id IN (${OPEN_BATCH_IDS}) AND status = 'processing'
               AND lease_owner IN (${marks(group.length)})`,
            group,
          )),
        );
      }
      return applyOutcomes(this.db, tx, interrupted(held, now, quarantineAfter), now);
    });
  }

  async list(batchId: string, query: ItemListQuery): Promise<Page<BatchItem>> {
    // The batch counters move in the same transactions as the items, so they are exact counts,
    // provided they are read from the same snapshot as the page.
    return this.db.readSnapshot(async (tx) => {
      const counters = await tx.get("SELECT * FROM batches WHERE id = ?", [batchId]);
      if (!counters) return { rows: [], total: 0 };
      const filter = query.status ? " AND status = ?" : "";
      const params = query.status ? [batchId, query.status] : [batchId];
      const rows = await tx.all(
        `SELECT * FROM batch_items WHERE batch_id = ?${filter} ORDER BY seq LIMIT ? OFFSET ?`,
        [...params, query.limit, query.offset],
      );
      const total = query.status ? counters[STATUS_COUNTER[query.status]] : counters.total;
      return { rows: rows.map(toBatchItem), total: n(total) };
    });
  }

  async listAfter(
    batchId: string,
    afterSeq: number,
    limit: number,
    status?: ItemStatus,
  ): Promise<BatchItem[]> {
    const page = keysetPage("*", batchId, afterSeq, limit, status);
    return (await this.db.all(page.sql, page.params)).map(toBatchItem);
  }

  async listResultRowsAfter(
    batchId: string,
    afterSeq: number,
    limit: number,
    status?: ItemStatus,
  ): Promise<ItemResultRow[]> {
    const page = keysetPage(RESULT_COLUMNS, batchId, afterSeq, limit, status);
    const rows = await this.db.allRaw(page.sql, page.params);
    for (const r of rows) toItemResultRow(r);
    return rows;
  }

  async getByCustomId(batchId: string, customId: string): Promise<BatchItem | undefined> {
    const row = await this.db.get("SELECT * FROM batch_items WHERE batch_id = ? AND custom_id = ?", [
      batchId,
      customId,
    ]);
    return row ? toBatchItem(row) : undefined;
  }

  async statusMap(batchId: string, page: PageQuery): Promise<StatusMap> {
    const map = {} as StatusMap;
    for (const status of ITEM_STATUSES) {
      const rows = await this.db.all(
        "SELECT custom_id FROM batch_items WHERE batch_id = ? AND status = ? ORDER BY seq LIMIT ? OFFSET ?",
        [batchId, status, page.limit, page.offset],
      );
      map[status] = rows.map((r) => r.custom_id as string);
    }
    return map;
  }

  async countFailedByCode(batchId: string): Promise<Map<number, number>> {
    const rows = await this.db.all(
      "SELECT error_code, COUNT(*) AS c FROM batch_items WHERE batch_id = ? AND status = 'failed' GROUP BY error_code",
      [batchId],
    );
    return new Map(rows.map((r) => [n(r.error_code ?? 0), n(r.c)]));
  }
}

/** The query of a keyset page of a batch's items after `afterSeq` (optionally of one status). */
function keysetPage(
  columns: string,
  batchId: string,
  afterSeq: number,
  limit: number,
  status?: ItemStatus,
): { sql: string; params: unknown[] } {
  const filter = status ? " AND status = ?" : "";
  return {
    sql: `SELECT ${columns} FROM batch_items WHERE batch_id = ?${filter} AND seq > ? ORDER BY seq LIMIT ?`,
    params: status ? [batchId, status, afterSeq, limit] : [batchId, afterSeq, limit],
  };
}

/** The outcomes of items whose worker died or stalled: run again at once, or quarantined. */
function interrupted(rows: Row[], now: number, quarantineAfter: number): ItemOutcome[] {
  return rows.map((r): ItemOutcome => {
    const base = { itemId: n(r.id), batchId: r.batch_id, leaseOwner: r.lease_owner, attempt: n(r.attempts) };
    const rule = interruptionRule(n(r.interruptions) + 1, quarantineAfter);
    const error = { errorCode: rule.error.code, errorMessage: rule.error.message, interrupted: true };
    return rule.kind === "failed"
      ? { ...base, kind: "failed", ...error }
      : { ...base, kind: "retry", notBefore: now, ...error };
  });
}
