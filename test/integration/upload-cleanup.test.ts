/**
 * Uploads that fail half-way leave no file without a row (issue 16, item 9): when the file's
 * bytes are stored but its row cannot be written, the upload fails and the bytes are removed,
 * on the OpenAI and the Codeer upload routes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileStorage } from "../../src/files/storage.js";
import { startTestServer, type TestServer, waitFor } from "../helpers/server.js";

describe("uploads that fail half-way", () => {
  let t: TestServer;
  const save = FileStorage.prototype.save;
  const saved: { storage: FileStorage; path: string }[] = [];
  beforeAll(async () => {
    t = await startTestServer(() => {}, { worker: false });
    FileStorage.prototype.save = async function (source, storagePath, maxBytes) {
      const result = await save.call(this, source, storagePath, maxBytes);
      saved.push({ storage: this, path: storagePath });
      return result;
    };
  });
  afterAll(async () => {
    FileStorage.prototype.save = save;
    await t.close();
  });

  for (const [route, purpose] of [
    ["/v1/files", "batch"],
    ["/api/v1/files", "batch_input"],
  ] as const) {
    it(`removes the stored bytes when the file's row cannot be written (${route})`, async () => {
      saved.length = 0;
      const files = t.service.store.files;
      const create = files.create;
      files.create = async () => {
        throw new Error("database is gone");
      };
      try {
        const form = new FormData();
        form.append("purpose", purpose);
        form.append("file", new Blob(['{"custom_id":"a","message":"hi"}\n']), "in.jsonl");
        const res = await fetch(`${t.url}${route}`, {
          method: "POST",
          headers: { "x-api-key": t.key, authorization: `Bearer ${t.key}` },
          body: form,
        });
        expect(res.status).toBe(500);
      } finally {
        files.create = create;
      }
      expect(saved).toHaveLength(1);
      const { storage, path } = saved[0];
      // A missing file: an error (data directory) or no bytes (database backend).
      const stillThere = await storage.size(path).then(
        (bytes) => bytes > 0,
        () => false,
      );
      expect(stillThere).toBe(false);
    });
  }
});

describe("the per-workspace storage quota", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(
      (c) => {
        c.files.workspaceQuotaBytes = 100;
      },
      { worker: false },
    );
  });
  afterAll(async () => t.close());

  const upload = async (route: string, purpose: string, bytes: number) => {
    const form = new FormData();
    form.append("purpose", purpose);
    form.append("file", new Blob([`${"x".repeat(bytes - 1)}\n`]), "in.jsonl");
    const res = await fetch(`${t.url}${route}`, {
      method: "POST",
      headers: { "x-api-key": t.key, authorization: `Bearer ${t.key}` },
      body: form,
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  it("refuses an upload past the quota with 413 saying so, counting both APIs' files, until files are deleted", async () => {
    const first = await upload("/v1/files", "batch", 60);
    expect(first.status).toBe(200);
    const over = await upload("/api/v1/files", "batch_input", 60);
    expect(over.status).toBe(413);
    expect(over.body.message).toMatch(
      /storage quota of 100 bytes would be exceeded \(60 bytes stored, this file 60\)/,
    );
    const overOpenAI = await upload("/v1/files", "batch", 60);
    expect(overOpenAI.status).toBe(413);
    expect(overOpenAI.body.error.message).toMatch(/storage quota/);
    expect((await upload("/api/v1/files", "batch_input", 40)).status).toBe(201);
    const other = await t.newWorkspaceKey("quota-other");
    const form = new FormData();
    form.append("purpose", "batch");
    form.append("file", new Blob(["y".repeat(90)]), "in.jsonl");
    const elsewhere = await fetch(`${t.url}/v1/files`, {
      method: "POST",
      headers: { authorization: `Bearer ${other}` },
      body: form,
    });
    expect(elsewhere.status).toBe(200);
    expect((await t.api("DELETE", `/v1/files/${first.body.id}`)).status).toBe(200);
    expect((await upload("/v1/files", "batch", 60)).status).toBe(200);
  });
});

describe("file retention", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer((c) => {
      c.files.retentionDays = 300 / 86_400_000; // 300 ms
      c.files.retentionSweepMs = 50;
    });
  });
  afterAll(async () => t.close());

  it("deletes files older than the retention, rows and bytes", async () => {
    const form = new FormData();
    form.append("purpose", "batch");
    form.append("file", new Blob(["z".repeat(50)]), "old.jsonl");
    const auth = { authorization: `Bearer ${t.key}` };
    const res = await fetch(`${t.url}/v1/files`, { method: "POST", headers: auth, body: form });
    expect(res.status).toBe(200);
    const id = ((await res.json()) as any).id as string;
    await waitFor(async () => (await t.api("GET", `/v1/files/${id}`)).status === 404, {
      what: "the file to pass its retention",
    });
    expect((await t.api("GET", `/v1/files/${id}/content`)).status).toBe(404);
  });
});
