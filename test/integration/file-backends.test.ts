/**
 * The three places file bytes can live, held to one contract: streamed writes and reads, ranges,
 * sizes, removal, the upload size cap. The database backend runs on the suite's store (SQLite or
 * PostgreSQL); the S3 backend runs against s3rver, a local S3-compatible server started here that
 * stands in for a real bucket (it speaks the same REST API, multipart uploads and ranged GETs).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { pipeline } from "node:stream/promises";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import S3rver from "s3rver";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHUNK_BYTES } from "../../src/files/backends/database.js";
import { migrateFiles } from "../../src/files/migrate.js";
import { type BackendName, FileStorage, FileTooLargeError } from "../../src/files/storage.js";
import { fileRecord, openTestStore, seedWorkspace, type TestStore } from "../helpers/store.js";

const dir = mkdtempSync(join(tmpdir(), "agentbatch-backends-"));
let s3server: S3rver;
let t: TestStore;
let storage: FileStorage;

beforeAll(async () => {
  s3server = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory: join(dir, "s3") });
  const { port } = await s3server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const credentials = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };
  const client = new S3Client({ endpoint, region: "us-east-1", forcePathStyle: true, credentials });
  await client.send(new CreateBucketCommand({ Bucket: "agentbatch-test" }));
  client.destroy();
  t = await openTestStore();
  storage = new FileStorage({
    dataDir: join(dir, "data"),
    backend: "local",
    blobs: t.store.blobs,
    s3: { bucket: "agentbatch-test", prefix: "files/", endpoint, ...credentials },
  });
});

afterAll(async () => {
  await storage.close();
  await t.close();
  await s3server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Bytes whose every position is recognisable, longer than two database chunks. */
const big = Buffer.from(Array.from({ length: 2 * CHUNK_BYTES + 12_345 }, (_, i) => i % 251));

async function bytesOf(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe.each<BackendName>(["local", "db", "s3"])("the %s backend", (backend) => {
  it("streams a file in and out whole and by range, reports its size, and removes it", async () => {
    const path = storage.pathFor(`${backend}-file-1`, backend);
    expect(path.startsWith(backend === "local" ? "lo" : `${backend}:`)).toBe(true);
    const { size } = await storage.save(
      Readable.from([big.subarray(0, 1000), big.subarray(1000)]),
      path,
      10_000_000,
    );
    expect(size).toBe(big.length);
    expect(await storage.size(path)).toBe(big.length);
    expect((await bytesOf(storage.open(path))).equals(big)).toBe(true);
    expect((await bytesOf(storage.open(path, { start: 0, end: 4095 }))).equals(big.subarray(0, 4096))).toBe(
      true,
    );
    const from = CHUNK_BYTES - 10;
    const across = await bytesOf(storage.open(path, { start: from, end: from + 99 }));
    expect(across.equals(big.subarray(from, from + 100))).toBe(true);
    await storage.remove(path);
    await expect(bytesOf(storage.open(path))).rejects.toThrow();
  });

  it("writes produced files through a stream and refuses an upload over the cap, leaving nothing", async () => {
    const path = storage.pathFor(`${backend}-file-2`, backend);
    await pipeline(Readable.from(["line 1\n", "line 2\n"]), storage.createWriteStream(path));
    expect(await text(storage.open(path))).toBe("line 1\nline 2\n");
    const capped = storage.pathFor(`${backend}-file-3`, backend);
    await expect(storage.save(Readable.from([big]), capped, 1000)).rejects.toBeInstanceOf(FileTooLargeError);
    await expect(bytesOf(storage.open(capped))).rejects.toThrow();
    const empty = storage.pathFor(`${backend}-file-4`, backend);
    await storage.save(Readable.from([]), empty, 10);
    expect((await bytesOf(storage.open(empty))).length).toBe(0);
  });
});

it("files migrate moves every file's bytes to another backend and points the rows at them", async () => {
  const { workspaceId } = await seedWorkspace(t.store, "migrate");
  for (const id of ["m1", "m2"]) {
    const storagePath = storage.pathFor(id, "local");
    await storage.save(Readable.from([`bytes of ${id}`]), storagePath, 100);
    await t.store.files.create({ ...fileRecord(id, workspaceId, 1), size: 10, storagePath });
  }
  for (const to of ["db", "s3", "local"] as const) {
    const report = await migrateFiles(t.store, storage, to);
    expect(report).toMatchObject({ moved: 2, failed: [] });
    const file = await t.store.files.get(workspaceId, "m2");
    expect(file?.storagePath).toBe(storage.pathFor("m2", to));
    expect(await text(storage.open(file?.storagePath as string))).toBe("bytes of m2");
  }
  expect(await migrateFiles(t.store, storage, "local")).toMatchObject({ moved: 0, skipped: 2 });
});
