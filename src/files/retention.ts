import type { Store } from "../store/types.js";
import type { FileStorage } from "./storage.js";

/**
 * File retention: deletes the files (rows, then bytes) created before `cutoff`, a page at a
 * time, of every workspace and purpose. Returns how many were deleted. Run by the service's
 * retention loop (as the cluster's leader) when `files.retentionDays` is set.
 */
export async function deleteFilesCreatedBefore(
  store: Store,
  files: FileStorage,
  cutoff: number,
  now: number,
  pageSize = 500,
): Promise<number> {
  let deleted = 0;
  for (;;) {
    const page = await store.files.listCreatedBefore(cutoff, pageSize);
    for (const f of page) {
      const row = await store.files.delete(f.workspaceId, f.id, now);
      if (!row) continue;
      // The row is gone first: a file whose bytes cannot be removed is at worst unreachable.
      await files.remove(row.storagePath).catch(() => {});
      deleted++;
    }
    if (page.length < pageSize) return deleted;
  }
}
