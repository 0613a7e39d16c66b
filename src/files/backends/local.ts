import { createReadStream, createWriteStream, mkdirSync } from "node:fs";
import { rm, stat } from "node:fs/promises";
import { dirname, resolve, sep } from "node:path";
import type { Readable, Writable } from "node:stream";
import type { BlobBackend, ByteRange } from "./backend.js";

/** Files on disk under `<dataDir>/files/` (the default with SQLite: one folder holds an instance). */
export class LocalBackend implements BlobBackend {
  readonly name = "local" as const;
  readonly root: string;

  constructor(dataDir: string) {
    this.root = resolve(dataDir, "files");
    mkdirSync(this.root, { recursive: true });
  }

  private abs(key: string): string {
    const p = resolve(this.root, key);
    if (!p.startsWith(this.root + sep)) throw new Error("file path escapes the storage root");
    return p;
  }

  createWriteStream(key: string): Writable {
    const target = this.abs(key);
    mkdirSync(dirname(target), { recursive: true });
    return createWriteStream(target);
  }

  open(key: string, range?: ByteRange): Readable {
    return createReadStream(this.abs(key), range);
  }

  async size(key: string): Promise<number> {
    return (await stat(this.abs(key))).size;
  }

  async remove(key: string): Promise<void> {
    await rm(this.abs(key), { force: true });
  }
}
