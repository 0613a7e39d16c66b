import { pipeline } from "node:stream/promises";
import type { Store } from "../store/types.js";
import type { BackendName, FileStorage } from "./storage.js";

export interface MigrateReport {
  moved: number;
  /** Already in the target backend. */
  skipped: number;
  failed: { fileId: string; error: string }[];
}

/**
 * Moves the bytes of every file into `to`: copy, point the file row at the copy, delete the old
 * bytes. A file at a time, streamed; safe to run again after an interruption (a file is switched
 * only once its copy is stored, so at worst a stray copy is written again).
 */
export async function migrateFiles(
  store: Store,
  storage: FileStorage,
  to: BackendName,
  onProgress: (report: MigrateReport) => void = () => {},
): Promise<MigrateReport> {
  const report: MigrateReport = { moved: 0, skipped: 0, failed: [] };
  let after = "";
  for (;;) {
    const files = await store.files.listAllAfter(after, 100);
    if (files.length === 0) return report;
    for (const file of files) {
      const target = storage.pathFor(file.id, to);
      if (file.storagePath === target) {
        report.skipped++;
        continue;
      }
      try {
        await pipeline(storage.open(file.storagePath), storage.createWriteStream(target));
        await store.files.setStoragePath(file.id, target);
        await storage.remove(file.storagePath);
        report.moved++;
      } catch (err) {
        report.failed.push({ fileId: file.id, error: (err as Error).message });
      }
    }
    after = files[files.length - 1].id;
    onProgress(report);
  }
}
