/** A runnable batch as the claim sees it: its workspace and how many items it has waiting. */
export interface ClaimCandidate {
  id: string;
  workspaceId: string;
  pending: number;
}

/**
 * Splits `limit` claim slots round-robin across workspaces, then across each one's batches, so
 * that a huge batch (or a workspace with many batches) cannot starve the others. Returns the
 * number of items to take from each batch; a batch never gets more than it has pending.
 */
export function fairShares(candidates: ClaimCandidate[], limit: number): Map<string, number> {
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
  const queues = [...byWorkspace.values()].map((batches) => ({ batches, next: 0 }));
  let left = limit;
  while (left > 0 && queues.length > 0) {
    for (let q = 0; q < queues.length && left > 0; ) {
      const picked = nextWithRoom(queues[q], shares);
      if (!picked) {
        queues.splice(q, 1);
        continue;
      }
      shares.set(picked.id, (shares.get(picked.id) ?? 0) + 1);
      left--;
      q++;
    }
  }
  return shares;
}

/** The workspace's next batch (round-robin) that has pending items beyond its share so far. */
function nextWithRoom(
  queue: { batches: ClaimCandidate[]; next: number },
  shares: Map<string, number>,
): ClaimCandidate | undefined {
  for (let tries = 0; tries < queue.batches.length; tries++) {
    const b = queue.batches[queue.next % queue.batches.length];
    queue.next++;
    if ((shares.get(b.id) ?? 0) < b.pending) return b;
  }
  return undefined;
}
