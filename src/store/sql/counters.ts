/**
 * Batch counters and settlement, shared by every transaction that moves items: counter deltas
 * gathered over a transaction and written once at its end, the batch lifecycle rules
 * (domain/lifecycle.ts) applied with the batch row locked, and the bulk failure of pending items
 * (cancel, expiry) with their webhook events.
 */
import type { FinalError } from "../../domain/final-errors.js";
import { CANCELLED } from "../../domain/final-errors.js";
import { type BatchTransition, hasPendingAfterCancel, settledStatus } from "../../domain/lifecycle.js";
import { type BatchStatus, isTerminalBatchStatus } from "../../domain/statuses.js";
import { type Row, type SqlExecutor, statementGroups } from "./driver.js";
import { countFinished, emptyTotals, type TotalsDelta, writeTotals } from "./metrics-totals.js";
import {
  enqueueBatchEvent,
  enqueueItemEvent,
  type OutboxBatch,
  outboxBatch,
  wantsItemEvents,
} from "./outbox-rows.js";
import { n } from "./rows.js";

/** Counter changes of one batch. */
export interface Delta {
  pending: number;
  processing: number;
  succeeded: number;
  failed: number;
  /** Items waiting for client tool outputs. */
  awaiting: number;
  promptTokens: number;
  /** Of `promptTokens`, those the provider served from its prompt cache. */
  cachedPromptTokens: number;
  completionTokens: number;
  cost: number;
}

/** Counter changes of every batch a transaction touches, written once at its end. */
export class Deltas {
  private readonly map = new Map<string, Delta>();

  of(batchId: string): Delta {
    let d = this.map.get(batchId);
    if (!d) {
      d = {
        pending: 0,
        processing: 0,
        succeeded: 0,
        failed: 0,
        awaiting: 0,
        promptTokens: 0,
        cachedPromptTokens: 0,
        completionTokens: 0,
        cost: 0,
      };
      this.map.set(batchId, d);
    }
    return d;
  }

  /** Batch ids in a fixed order: every transaction locks batch rows in the same order (no deadlocks). */
  ids(): string[] {
    return [...this.map.keys()].sort();
  }

  /**
   * Writes every batch's counters; the changes to batches that have already finished (a late
   * cancel of their waiting items) also move the /metrics totals, after every batch row.
   * Returns each batch's progress as written (what `settle` reads), saving it a read.
   * `claimedAt`: the deltas are a claim's, which also stamps the batches it took items from.
   *
   * One statement for every batch of the transaction (`UPDATE … FROM` a VALUES list on SQLite ≥
   * 3.33, arrays on PostgreSQL: `arrayUpdateSql`), not one per batch: this was the most frequent
   * statement of a group commit. Lock order: every transaction locks batch rows in id order (no
   * deadlocks between claims, commits, cancels); where rows are locked (PostgreSQL, whose
   * parameters are arrays) `arrayUpdateSql` takes them in that order itself.
   */
  async write(tx: SqlExecutor, options: { claimedAt?: number } = {}): Promise<Map<string, Progress>> {
    const finished = emptyTotals();
    const written = new Map<string, Progress>();
    const ids = this.ids();
    const claimed = options.claimedAt !== undefined;
    const claimParams = claimed ? [options.claimedAt, options.claimedAt] : [];
    const rows: Row[] = [];
    if (tx.arrayParams) {
      const columns = COUNTER_COLUMNS.map(() => new Array(ids.length));
      for (let i = 0; i < ids.length; i++) {
        const values = deltaParams(this.map.get(ids[i]) as Delta);
        for (let c = 0; c < columns.length; c++) columns[c][i] = values[c];
      }
      if (ids.length > 0)
        rows.push(
          ...(await tx.all(tx.keepPlan(arrayUpdateSql(claimed)), [ids, ids, ...columns, ...claimParams])),
        );
    } else {
      for (const group of statementGroups(tx, ids, BATCHES_PER_STATEMENT)) {
        const params: unknown[] = [];
        for (const id of group) params.push(id, ...deltaParams(this.map.get(id) as Delta));
        rows.push(...(await tx.all(multiUpdateSql(group.length, claimed), [...params, ...claimParams])));
      }
    }
    for (const row of rows) this.wrote(row, row.id as string, written, finished);
    await writeTotals(tx, finished);
    return written;
  }

  private wrote(row: Row, id: string, written: Map<string, Progress>, finished: TotalsDelta): void {
    written.set(id, toProgress(row));
    if (isTerminalBatchStatus(row.status)) addCounters(finished, this.map.get(id) as Delta);
  }
}

/** Batch rows per counter UPDATE: 10 parameters a row. */
const BATCHES_PER_STATEMENT = 200;

/** A delta's counter changes, in `COUNTER_COLUMNS` order. */
function deltaParams(d: Delta): number[] {
  return [
    d.pending,
    d.processing,
    d.succeeded,
    d.failed,
    d.awaiting,
    d.promptTokens,
    d.cachedPromptTokens,
    d.completionTokens,
    d.cost,
  ];
}

/** The counter columns, with the type of their change in a VALUES list (PostgreSQL infers none). */
const COUNTER_COLUMNS: [string, string][] = [
  ["pending", "BIGINT"],
  ["processing", "BIGINT"],
  ["succeeded", "BIGINT"],
  ["failed", "BIGINT"],
  ["awaiting", "BIGINT"],
  ["prompt_tokens", "BIGINT"],
  ["cached_prompt_tokens", "BIGINT"],
  ["completion_tokens", "BIGINT"],
  ["cost", "DOUBLE PRECISION"],
];

const CLAIM_STAMPS = ", last_claimed_at = ?, started_at = COALESCE(started_at, ?)";

/** The statement text per row count, built once (SQLite caches prepared statements by text). */
const multiSql = new Map<string, string>();
function multiUpdateSql(rows: number, claimed: boolean): string {
  const key = `${rows}:${claimed}`;
  let sql = multiSql.get(key);
  if (sql === undefined) {
    const row = `(?, ${COUNTER_COLUMNS.map(([, type]) => `CAST(? AS ${type})`).join(", ")})`;
    sql = `WITH v(id, ${COUNTER_COLUMNS.map(([c]) => `d_${c}`).join(", ")}) AS (VALUES ${new Array(rows).fill(row).join(", ")})
     UPDATE batches SET ${COUNTER_COLUMNS.map(([c]) => `${c} = batches.${c} + v.d_${c}`).join(", ")}${claimed ? CLAIM_STAMPS : ""}
     FROM v WHERE batches.id = v.id
     RETURNING batches.id, ${PROGRESS_COLUMNS.split(", ")
       .map((c) => `batches.${c}`)
       .join(", ")}`;
    multiSql.set(key, sql);
  }
  return sql;
}

/**
 * `multiUpdateSql` where parameters can be arrays (PostgreSQL): every batch in one statement, one
 * text whatever their number, its values one array per column. The rows are locked in id order in
 * the statement itself: `locked` sorts before it locks (a `LockRows` over a `Sort`), and a row is
 * updated only once `locked` has given it, so every lock is taken in id order, whatever order
 * the planner joins in. With several batches that was a `SELECT … FOR UPDATE` first, a round trip
 * more (bench/README.md, "Issue 17.1, a group commit in one statement").
 */
const arrayUpdateTexts = new Map<boolean, string>();
function arrayUpdateSql(claimed: boolean): string {
  let sql = arrayUpdateTexts.get(claimed);
  if (sql === undefined) {
    sql = `WITH locked AS MATERIALIZED (
       SELECT id FROM batches WHERE id = ANY(CAST(? AS TEXT[])) ORDER BY id FOR UPDATE)
     UPDATE batches SET ${COUNTER_COLUMNS.map(([c]) => `${c} = batches.${c} + v.d_${c}`).join(", ")}${claimed ? CLAIM_STAMPS : ""}
     FROM locked JOIN unnest(CAST(? AS TEXT[]), ${COUNTER_COLUMNS.map(([, type]) => `CAST(? AS ${type}[])`).join(", ")})
       AS v(id, ${COUNTER_COLUMNS.map(([c]) => `d_${c}`).join(", ")}) ON v.id = locked.id
     WHERE batches.id = locked.id
     RETURNING batches.id, ${PROGRESS_COLUMNS.split(", ")
       .map((c) => `batches.${c}`)
       .join(", ")}`;
    arrayUpdateTexts.set(claimed, sql);
  }
  return sql;
}

function addCounters(into: TotalsDelta, d: Delta): void {
  into.items.pending += d.pending;
  into.items.processing += d.processing;
  into.items.awaiting += d.awaiting;
  into.items.succeeded += d.succeeded;
  into.items.failed += d.failed;
}

/**
 * Fails every pending item of a batch at once with one error (cancel, expiry), and every item
 * waiting for client tool outputs; returns how many.
 */
export async function failPending(
  tx: SqlExecutor,
  batchId: string,
  error: FinalError,
  now: number,
  deltas: Deltas,
): Promise<number> {
  const pending = await failWaiting(tx, batchId, "pending", error, now);
  const awaiting = await failWaiting(tx, batchId, "awaiting_tool_calls", error, now);
  const d = deltas.of(batchId);
  d.pending -= pending;
  d.awaiting -= awaiting;
  d.failed += pending + awaiting;
  return pending + awaiting;
}

/** Fails the items of a batch in one status (pending, or awaiting tool outputs); returns how many. */
async function failWaiting(
  tx: SqlExecutor,
  batchId: string,
  status: "pending" | "awaiting_tool_calls",
  error: FinalError,
  now: number,
): Promise<number> {
  const batchRow = await tx.get("SELECT workspace_id, webhook, item_webhooks FROM batches WHERE id = ?", [
    batchId,
  ]);
  const batch = outboxBatch(batchRow as Row);
  const changed = wantsItemEvents(batch)
    ? await failPendingWithEvents(tx, batch, batchId, status, error, now)
    : await tx.run(
        `UPDATE batch_items SET status = 'failed', error_code = ?, error_message = ?, processed_at = ?
         WHERE batch_id = ? AND status = ?`,
        [error.code, error.message, now, batchId, status],
      );
  return changed;
}

/** failPending for a batch that sends request events: in groups, queuing `request.failed` per item. */
async function failPendingWithEvents(
  tx: SqlExecutor,
  batch: OutboxBatch,
  batchId: string,
  status: string,
  error: FinalError,
  now: number,
): Promise<number> {
  const group = 500;
  let changed = 0;
  for (;;) {
    const rows = await tx.all(
      `UPDATE batch_items SET status = 'failed', error_code = ?, error_message = ?, processed_at = ?
       WHERE id IN (SELECT id FROM batch_items WHERE batch_id = ? AND status = ? ORDER BY seq LIMIT ?)
       RETURNING *`,
      [error.code, error.message, now, batchId, status, group],
    );
    for (const item of rows) await enqueueItemEvent(tx, batch, item, now);
    changed += rows.length;
    if (rows.length < group) return changed;
  }
}

/** Queues the `request.*` events of an item that just reached its final status. */
export async function enqueueOutcomeEvent(tx: SqlExecutor, batch: OutboxBatch, itemId: number, now: number) {
  if (!wantsItemEvents(batch)) return;
  const item = (await tx.get("SELECT * FROM batch_items WHERE id = ?", [itemId])) as Row;
  await enqueueItemEvent(tx, batch, item, now);
}

/** What settling a batch reads of it. */
interface Progress {
  workspaceId: string;
  status: BatchStatus;
  pending: number;
  processing: number;
  awaiting: number;
}

const PROGRESS_COLUMNS = "workspace_id, status, pending, processing, awaiting";

function toProgress(b: Row): Progress {
  return {
    workspaceId: b.workspace_id as string,
    status: b.status as BatchStatus,
    pending: n(b.pending),
    processing: n(b.processing),
    awaiting: n(b.awaiting),
  };
}

async function readProgress(tx: SqlExecutor, batchId: string): Promise<Progress> {
  return toProgress((await tx.get(`SELECT ${PROGRESS_COLUMNS} FROM batches WHERE id = ?`, [batchId])) as Row);
}

/**
 * Moves a batch to its final status once nothing of it is left to run (domain/lifecycle.ts), and
 * queues the webhook event of that status in the same transaction.
 */
export async function settle(
  tx: SqlExecutor,
  batchId: string,
  now: number,
  known?: Progress,
): Promise<BatchTransition | null> {
  let b = known ?? (await readProgress(tx, batchId));
  if (hasPendingAfterCancel(b)) {
    const deltas = new Deltas();
    await failPending(tx, batchId, CANCELLED, now, deltas);
    await deltas.write(tx);
    b = await readProgress(tx, batchId);
  }
  const to = settledStatus(b);
  if (!to) return null;
  const stamp = to === "completed" ? "completed_at" : "cancelled_at";
  const row = await tx.get(`UPDATE batches SET status = ?, ${stamp} = ? WHERE id = ? RETURNING *`, [
    to,
    now,
    batchId,
  ]);
  await countFinished(tx, row);
  await enqueueBatchEvent(tx, batchId, now);
  return { batchId, workspaceId: b.workspaceId, from: b.status, to };
}

/** Writes the deltas and settles every batch they touch; returns the batches that moved. */
export async function writeAndSettle(
  tx: SqlExecutor,
  deltas: Deltas,
  now: number,
): Promise<BatchTransition[]> {
  const written = await deltas.write(tx);
  const transitions: BatchTransition[] = [];
  for (const id of deltas.ids()) {
    const t = await settle(tx, id, now, written.get(id));
    if (t) transitions.push(t);
  }
  return transitions;
}
