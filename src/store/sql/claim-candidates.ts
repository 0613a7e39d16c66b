/**
 * The batches one claim looks at (its candidates): the least recently claimed runnable ones, at
 * most `CANDIDATES_PER_WORKSPACE` of each workspace, so a workspace with thousands of batches
 * cannot crowd the others out, and at most `CLAIM_CANDIDATES` in all. Read before a claim, unless
 * the previous claim's read still serves (`read`'s `reuse`).
 */
import type { SqlDriver } from "./driver.js";
import { n } from "./rows.js";

const CLAIM_CANDIDATES = 100;
const CANDIDATES_PER_WORKSPACE = 10;
/** How long the window query is read directly once the ordered read was not the answer. */
const WINDOW_FOR_MS = 1000;
/** The longest a read serves the claims after it (`read`'s `reuse`). */
const KEPT_FOR_MS = 1000;

/** A runnable batch a claim may take items from. */
export interface Candidate {
  id: string;
  workspaceId: string;
  pending: number;
}

/**
 * Reads the candidates. The per-workspace cap is a window function (`ROW_NUMBER() OVER
 * (PARTITION BY workspace_id …)`): two sorts of every runnable batch, ~45 µs per read of 20 batches
 * on SQLite against ~18 µs for the same batches read in order (micro-benchmark, bench/README.md,
 * "Issue 17.5, claim path"). So the first `CLAIM_CANDIDATES` runnable batches are read in that
 * order (`ordered`) and capped here, walking them in order (a batch's rank in its workspace is
 * its place among its workspace's batches in that order): when the cap dropped none of them, or
 * they were every runnable batch, that is exactly the window's answer; only otherwise (more
 * than `CLAIM_CANDIDATES` runnable batches and one workspace over its cap among the first) is
 * the window read (`ranked`).
 */
export class ClaimCandidates {
  private readonly ordered: string;
  private readonly ranked: string;

  constructor(private readonly db: SqlDriver) {
    this.ordered = db.keepPlan(
      `SELECT id, workspace_id, pending FROM batches WHERE status = 'in_progress' AND pending > 0
       ORDER BY last_claimed_at, created_at LIMIT ${CLAIM_CANDIDATES}`,
    );
    this.ranked = db.keepPlan(
      `SELECT id, workspace_id, pending FROM (
         SELECT id, workspace_id, pending, last_claimed_at, created_at,
                ROW_NUMBER() OVER (PARTITION BY workspace_id ORDER BY last_claimed_at, created_at) AS rn
         FROM batches WHERE status = 'in_progress' AND pending > 0) ranked
       WHERE rn <= ${CANDIDATES_PER_WORKSPACE}
       ORDER BY last_claimed_at, created_at LIMIT ${CLAIM_CANDIDATES}`,
    );
  }

  /**
   * Until when the window query is read at once: set when the ordered read was not the answer,
   * so that a workspace with more than its cap among many runnable batches does not cost two
   * reads a claim; the ordered read is tried again after `WINDOW_FOR_MS`.
   */
  private windowUntil = 0;

  /**
   * The last read as the claims since have left it (each batch they looked at last in the order,
   * its `pending` less what they took), while every one of those claims got what it asked of
   * every batch; null otherwise.
   */
  private kept: Candidate[] | null = null;
  private keptAt = 0;

  /**
   * The candidates. With `reuse` (no work has arrived since the previous claim: no batch can have
   * become runnable) the previous read serves, as the claims since have left it, for up to
   * `KEPT_FOR_MS`: at a refill every ~30 ms (64 slots at 50 ms), reading them before every claim
   * was a round trip a claim on PostgreSQL (bench/README.md, "Issue 17.1, a group commit in one
   * statement"). A claim that got less than it asked of a batch (it ran dry, another worker took
   * items, it was paused or cancelled, a retry not yet due) drops the kept read.
   */
  async read(reuse = false): Promise<Candidate[]> {
    if (reuse && this.kept !== null && Date.now() - this.keptAt < KEPT_FOR_MS) return this.kept;
    const read = await this.readNow();
    this.kept = read.length > 0 ? read : null;
    this.keptAt = Date.now();
    return read;
  }

  /**
   * A claim of `shares` (batch → items asked) took `claimed`: each batch it looked at was stamped
   * `last_claimed_at` (last in the order now, as it was read); the kept read follows, or is
   * dropped when a batch gave less than asked or has nothing left.
   */
  claimed(shares: Map<string, number>, claimed: { batchId: string }[]): void {
    if (this.kept === null) return;
    const taken = new Map<string, number>();
    for (const c of claimed) taken.set(c.batchId, (taken.get(c.batchId) ?? 0) + 1);
    const looked: Candidate[] = [];
    const rest: Candidate[] = [];
    for (const c of this.kept) {
      if (!shares.has(c.id)) rest.push(c);
      else looked.push({ ...c, pending: c.pending - (taken.get(c.id) ?? 0) });
    }
    const short = [...shares].some(([id, share]) => (taken.get(id) ?? 0) < share);
    this.kept = short || looked.some((c) => c.pending <= 0) ? null : [...rest, ...looked];
  }

  private async readNow(): Promise<Candidate[]> {
    if (this.windowUntil > 0) {
      if (Date.now() < this.windowUntil) return this.readRanked();
      this.windowUntil = 0;
    }
    const rows = await this.db.all(this.ordered);
    const perWorkspace = new Map<string, number>();
    const candidates: Candidate[] = [];
    for (const r of rows) {
      const workspaceId = r.workspace_id as string;
      const taken = perWorkspace.get(workspaceId) ?? 0;
      if (taken >= CANDIDATES_PER_WORKSPACE) continue;
      perWorkspace.set(workspaceId, taken + 1);
      candidates.push({ id: r.id as string, workspaceId, pending: n(r.pending) });
    }
    if (candidates.length === rows.length || rows.length < CLAIM_CANDIDATES) return candidates;
    this.windowUntil = Date.now() + WINDOW_FOR_MS;
    return this.readRanked();
  }

  private async readRanked(): Promise<Candidate[]> {
    return (await this.db.all(this.ranked)).map((r) => ({
      id: r.id as string,
      workspaceId: r.workspace_id as string,
      pending: n(r.pending),
    }));
  }
}
