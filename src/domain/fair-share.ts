/** A runnable batch as the claim sees it: its workspace and how many items it has waiting. */
export interface ClaimCandidate {
  id: string;
  workspaceId: string;
  pending: number;
}

/**
 * One engine's per-workspace bound: a workspace holds at most `cap` of its slots while another
 * workspace has work (runnable, or running in the engine); alone, it may use them all.
 */
export interface WorkspaceShare {
  cap: number;
  /** Slots each workspace holds in the engine now (claimed, not finished). */
  busy: ReadonlyMap<string, number>;
}

/** The slots of `concurrency` one workspace may hold while others have work (at least 1). */
export function workspaceCap(concurrency: number, share: number): number {
  return Math.max(1, Math.floor(concurrency * share));
}

/**
 * How many more slots each workspace may take now: unbounded when it is the only workspace
 * with work (among `active`), else its cap less what it holds.
 */
export function workspaceRoom(
  active: Iterable<string>,
  share: WorkspaceShare,
): (workspaceId: string) => number {
  const workspaces = new Set(active);
  for (const [ws, n] of share.busy) if (n > 0) workspaces.add(ws);
  if (workspaces.size <= 1) return () => Number.POSITIVE_INFINITY;
  return (ws) => Math.max(0, share.cap - (share.busy.get(ws) ?? 0));
}

/**
 * The items to take back from workspaces above their cap while another workspace waits for a
 * slot (`waiting`: workspaces with runnable work): for each workspace over its cap, how many.
 * Nothing when no workspace under its cap waits.
 */
export function preemptions(waiting: Iterable<string>, share: WorkspaceShare): Map<string, number> {
  const over = new Map<string, number>();
  const starving = [...waiting].some((ws) => (share.busy.get(ws) ?? 0) < share.cap);
  if (!starving) return over;
  for (const [ws, n] of share.busy) if (n > share.cap) over.set(ws, n - share.cap);
  return over;
}

/**
 * Splits `limit` claim slots round-robin across workspaces, then across each one's batches, so
 * that a huge batch (or a workspace with many batches) cannot starve the others. Returns the
 * number of items to take from each batch; a batch never gets more than it has pending, and a
 * workspace never more than `room` allows.
 *
 * `grain`: a workspace's batches take their turns `grain` items at a time (1: item by item).
 * Each batch a claim takes from costs one statement, so a small claim spread item by item over
 * 20 batches was 20 statements of one item; with a grain it is a few statements, and the
 * batches left out come first next time (the candidates come least recently claimed first).
 */
export function fairShares(
  candidates: ClaimCandidate[],
  limit: number,
  room: (workspaceId: string) => number = () => Number.POSITIVE_INFINITY,
  grain = 1,
): Map<string, number> {
  const byWorkspace = new Map<string, ClaimCandidate[]>();
  for (const c of candidates) {
    let list = byWorkspace.get(c.workspaceId);
    if (!list) {
      list = [];
      byWorkspace.set(c.workspaceId, list);
    }
    list.push(c);
  }
  const shares = new Map<string, number>();
  const queues: BatchQueue[] = [...byWorkspace.entries()].map(([ws, batches]) => ({
    batches,
    next: 0,
    taken: 0,
    left: room(ws),
  }));
  let left = limit;
  while (left > 0 && queues.length > 0) {
    for (let q = 0; q < queues.length && left > 0; ) {
      const picked = queues[q].left > 0 ? nextWithRoom(queues[q], shares, grain) : undefined;
      if (!picked) {
        queues.splice(q, 1);
        continue;
      }
      shares.set(picked.id, (shares.get(picked.id) ?? 0) + 1);
      queues[q].left--;
      left--;
      q++;
    }
  }
  return shares;
}

interface BatchQueue {
  batches: ClaimCandidate[];
  /** The batch whose turn it is (modulo the list). */
  next: number;
  /** Items the batch whose turn it is has had in this turn. */
  taken: number;
  left: number;
}

/** The workspace's next batch (round-robin, `grain` items a turn) with pending items beyond its share so far. */
function nextWithRoom(
  queue: BatchQueue,
  shares: Map<string, number>,
  grain: number,
): ClaimCandidate | undefined {
  for (let tries = 0; tries <= queue.batches.length; tries++) {
    const b = queue.batches[queue.next % queue.batches.length];
    if (queue.taken < grain && (shares.get(b.id) ?? 0) < b.pending) {
      queue.taken++;
      if (queue.taken >= grain) {
        queue.next++;
        queue.taken = 0;
      }
      return b;
    }
    queue.next++;
    queue.taken = 0;
  }
  return undefined;
}
