import { CANCELLED, EXPIRED } from "../../domain/final-errors.js";
import {
  type BatchTransition,
  cancelRule,
  pauseRule,
  resumeRule,
  retryRule,
  type StateChangeRule,
} from "../../domain/lifecycle.js";
import type { BatchStatus } from "../../domain/statuses.js";
import type {
  Batch,
  BatchListQuery,
  BatchStore,
  CreateBatchResult,
  IngestEnd,
  IngestEntry,
  IngestLookups,
  IngestOptions,
  IngestProgress,
  IngestRow,
  NewBatch,
  ResumedIngest,
  StateChangeResult,
} from "../batches.js";
import type { CommitReport } from "../items.js";
import type { Page } from "../page.js";
import * as background from "./background-ingest.js";
import { Deltas, failPending, settle, writeAndSettle } from "./counters.js";
import { marks, type Row, type SqlDriver, type SqlExecutor } from "./driver.js";
import { ingestInTransaction, ingestLookups, Rollback } from "./ingest.js";
import { countFinished } from "./metrics-totals.js";
import { rowInWorkspace } from "./queries.js";
import { n, toBatch } from "./rows.js";

const NOTHING: CommitReport = { applied: 0, discarded: 0, transitions: [], touchedBatchIds: [] };

/** What a status change sets besides the status itself. */
interface StatusMove {
  rule: (status: BatchStatus) => StateChangeRule;
  from: BatchStatus;
  to: BatchStatus;
  set: string;
  params: unknown[];
}

/** Batches: reads, creation from rows, and the state changes clients ask for. */
export class SqlBatchStore implements BatchStore {
  constructor(private readonly db: SqlDriver) {}

  async get(workspaceId: string, batchId: string): Promise<Batch | undefined> {
    const row = await rowInWorkspace(this.db, "batches", batchId, workspaceId);
    return row ? toBatch(row) : undefined;
  }

  async list(workspaceId: string, query: BatchListQuery): Promise<Page<Batch>> {
    const statuses = query.statuses ?? [];
    const filter = statuses.length > 0 ? ` AND status IN (${marks(statuses.length)})` : "";
    const rows = await this.db.all(
      `SELECT * FROM batches WHERE workspace_id = ?${filter} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
      [workspaceId, ...statuses, query.limit, query.offset],
    );
    const total = (await this.db.get(`SELECT COUNT(*) AS c FROM batches WHERE workspace_id = ?${filter}`, [
      workspaceId,
      ...statuses,
    ])) as Row;
    return { rows: rows.map(toBatch), total: n(total.c) };
  }

  async ingest(
    b: NewBatch,
    entries: (lookups: IngestLookups) => AsyncIterable<IngestEntry>,
    options: IngestOptions,
  ): Promise<CreateBatchResult> {
    try {
      return await this.db.transaction((tx) => ingestInTransaction(tx, b, entries, options));
    } catch (err) {
      if (err instanceof Rollback) return err.result;
      throw err;
    }
  }

  beginIngest(
    b: NewBatch,
    idempotencyKey: string | undefined,
    now: number,
    resume?: { owner: string; progress: IngestProgress },
  ): Promise<CreateBatchResult> {
    return background.beginIngest(this.db, b, idempotencyKey, now, resume);
  }

  ingestChunk(
    batchId: string,
    rows: IngestRow[],
    now: number,
    owner: string,
    progress: (stored: Set<number>) => IngestProgress,
  ): Promise<Set<number> | null> {
    return background.ingestChunk(this.db, batchId, rows, now, { owner, progress });
  }

  touchIngest(batchId: string, owner: string, now: number): Promise<boolean> {
    return background.touchIngest(this.db, batchId, owner, now);
  }

  releaseIngest(batchId: string, owner: string): Promise<void> {
    return background.releaseIngest(this.db, batchId, owner);
  }

  finishIngest(batchId: string, end: IngestEnd, now: number, owner?: string): Promise<Batch | undefined> {
    return background.finishIngest(this.db, batchId, end, now, owner);
  }

  takeStaleIngests(staleBefore: number, owner: string, now: number): Promise<ResumedIngest[]> {
    return background.takeStaleIngests(this.db, staleBefore, owner, now);
  }

  activeRows(workspaceId: string): Promise<number> {
    return background.activeRows(this.db, workspaceId);
  }

  lookups(): IngestLookups {
    return ingestLookups(this.db);
  }

  pause(workspaceId: string, batchId: string, now: number): Promise<StateChangeResult> {
    return this.move(workspaceId, batchId, {
      rule: pauseRule,
      from: "in_progress",
      to: "paused",
      set: "paused_at = ?",
      params: [now],
    });
  }

  resume(workspaceId: string, batchId: string, _now: number): Promise<StateChangeResult> {
    return this.move(workspaceId, batchId, {
      rule: resumeRule,
      from: "paused",
      to: "in_progress",
      set: "paused_at = NULL",
      params: [],
    });
  }

  /** One conditional UPDATE; if it changed nothing, the lifecycle rule says what the status means. */
  private async move(workspaceId: string, batchId: string, m: StatusMove): Promise<StateChangeResult> {
    const row = await this.db.get(
      `UPDATE batches SET status = ?, ${m.set} WHERE id = ? AND workspace_id = ? AND status = ? RETURNING *`,
      [m.to, ...m.params, batchId, workspaceId, m.from],
    );
    if (row) {
      const transitions = [{ batchId, workspaceId, from: m.from, to: m.to }];
      return { kind: "ok", batch: toBatch(row), changed: true, transitions };
    }
    const current = await this.get(workspaceId, batchId);
    if (!current) return { kind: "not_found" };
    if (m.rule(current.status) === "unchanged")
      return { kind: "ok", batch: current, changed: false, transitions: [] };
    return { kind: "conflict", batch: current };
  }

  async retryFailed(
    workspaceId: string,
    batchId: string,
    _now: number,
    expiresAt: number,
  ): Promise<StateChangeResult> {
    return this.db.transaction(async (tx) => {
      const row = await rowInWorkspace(tx, "batches", batchId, workspaceId);
      if (!row) return { kind: "not_found" as const };
      const from = row.status as BatchStatus;
      if (retryRule(from, n(row.failed)) !== "change")
        return { kind: "conflict" as const, batch: toBatch(row) };
      // Items first, then the batch row (the lock order of every transaction).
      const moved = await tx.run(
        `UPDATE batch_items SET status = 'pending', attempts = 0, not_before = 0, error_code = NULL,
           error_message = NULL, processed_at = NULL, lease_owner = NULL, lease_expires_at = NULL
         WHERE batch_id = ? AND status = 'failed'`,
        [batchId],
      );
      if (moved === 0) return { kind: "conflict" as const, batch: toBatch(row) };
      // An OpenAI-shaped batch gets its output and error files written again when it finishes anew.
      await tx.run(
        `UPDATE api_batches SET output_file_id = NULL, error_file_id = NULL, finalize_owner = NULL,
           finalize_started_at = NULL, finalized_at = NULL WHERE batch_id = ? AND shape = 'openai'`,
        [batchId],
      );
      const batch = await tx.get(
        `UPDATE batches SET status = 'in_progress', failed = failed - ?, pending = pending + ?,
           completed_at = NULL, cancelled_at = NULL, paused_at = NULL, error_message = NULL,
           expires_at = CASE WHEN expires_at > ? THEN expires_at ELSE ? END
         WHERE id = ? RETURNING *`,
        [moved, moved, expiresAt, expiresAt, batchId],
      );
      // The batch has not finished any more: out of the /metrics totals as it was.
      await countFinished(tx, row, -1);
      const transitions = [{ batchId, workspaceId, from, to: "in_progress" as const }];
      return { kind: "ok" as const, batch: toBatch(batch as Row), changed: true, transitions };
    });
  }

  async cancel(workspaceId: string, batchId: string, now: number): Promise<StateChangeResult> {
    const outcome = await this.db.transaction(async (tx) => {
      const row = await rowInWorkspace(tx, "batches", batchId, workspaceId);
      if (!row) return { kind: "not_found" as const };
      const status = row.status as BatchStatus;
      const rule = cancelRule(status);
      if (rule === "unchanged")
        return { kind: "ok" as const, batch: toBatch(row), changed: false, transitions: [] };
      if (rule === "conflict") return { kind: "conflict" as const, batch: toBatch(row) };
      if (status === "validating") return { kind: "validating" as const };
      return this.cancelInTransaction(tx, workspaceId, batchId, status, now);
    });
    if (outcome.kind !== "validating") return outcome;
    const cancelled = await background.cancelValidating(this.db, batchId, now);
    // The ingest ended in between: cancel what it became.
    if (!cancelled) return this.cancel(workspaceId, batchId, now);
    const transitions: BatchTransition[] = [{ batchId, workspaceId, from: "validating", to: "cancelled" }];
    return { kind: "ok", batch: cancelled, changed: true, transitions };
  }

  /** Fails the pending items (items first: the lock order), then moves the batch to cancelling. */
  private async cancelInTransaction(
    tx: SqlExecutor,
    workspaceId: string,
    batchId: string,
    status: BatchStatus,
    now: number,
  ): Promise<StateChangeResult> {
    const deltas = new Deltas();
    await failPending(tx, batchId, CANCELLED, now, deltas);
    const moved = await tx.run(
      "UPDATE batches SET status = 'cancelling' WHERE id = ? AND status IN ('in_progress', 'paused')",
      [batchId],
    );
    await deltas.write(tx);
    const read = async () => toBatch((await tx.get("SELECT * FROM batches WHERE id = ?", [batchId])) as Row);
    // Another transaction changed the status in between: report what it is now.
    if (moved === 0) return { kind: "ok", batch: await read(), changed: false, transitions: [] };
    const transitions: BatchTransition[] = [{ batchId, workspaceId, from: status, to: "cancelling" }];
    const settled = await settle(tx, batchId, now);
    if (settled) transitions.push(settled);
    return { kind: "ok", batch: await read(), changed: true, transitions };
  }

  async expire(now: number): Promise<CommitReport> {
    const due = await this.db.all(
      "SELECT id FROM batches WHERE status IN ('in_progress', 'paused') AND expires_at <= ?",
      [now],
    );
    if (due.length === 0) return NOTHING;
    return this.db.transaction(async (tx) => {
      const deltas = new Deltas();
      let applied = 0;
      for (const b of due) applied += await failPending(tx, b.id, EXPIRED, now, deltas);
      const transitions = await writeAndSettle(tx, deltas, now);
      return { applied, discarded: 0, transitions, touchedBatchIds: deltas.ids() };
    });
  }
}
