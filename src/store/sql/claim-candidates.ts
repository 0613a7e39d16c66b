/**
 * The batches one claim looks at (its candidates): the least recently claimed runnable ones, at
 * most `CANDIDATES_PER_WORKSPACE` of each workspace, so a workspace with thousands of batches
 * cannot crowd the others out, and at most `CLAIM_CANDIDATES` in all. Read before every claim.
 */
import type { SqlDriver } from "./driver.js";
import { n } from "./rows.js";

const CLAIM_CANDIDATES = 100;
const CANDIDATES_PER_WORKSPACE = 10;
/** How long the window query is read directly once the ordered read was not the answer. */
const WINDOW_FOR_MS = 1000;

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

  async read(): Promise<Candidate[]> {
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
