/**
 * A full disk while writing an OpenAI batch's output file (issue 16, item 9): the batch ends
 * `failed` with the reason in its errors, the partial file is removed, and the process keeps
 * serving (an unhandled stream 'error' would have ended it).
 */
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileStorage } from "../../src/files/storage.js";
import { startTestServer, type TestServer, waitFor } from "../helpers/server.js";

const line = (id: string) =>
  JSON.stringify({
    custom_id: id,
    method: "POST",
    url: "/v1/chat/completions",
    body: { model: "simulated/echo", messages: [{ role: "user", content: `q ${id}` }] },
  });

async function createBatch(t: TestServer): Promise<string> {
  const form = new FormData();
  form.append("purpose", "batch");
  form.append("file", new Blob([`${line("a")}\n${line("b")}\n`]), "in.jsonl");
  const auth = { authorization: `Bearer ${t.key}` };
  const file = (await (
    await fetch(`${t.url}/v1/files`, { method: "POST", headers: auth, body: form })
  ).json()) as any;
  const created = await t.api("POST", "/v1/batches", {
    input_file_id: file.id,
    endpoint: "/v1/chat/completions",
    completion_window: "24h",
  });
  expect(created.status).toBe(200);
  return created.body.id;
}

async function ended(t: TestServer, id: string): Promise<any> {
  return waitFor(
    async () => {
      const b = (await t.api("GET", `/v1/batches/${id}`)).body;
      return ["completed", "failed"].includes(b.status) ? b : null;
    },
    { what: `batch ${id} to end` },
  );
}

describe("the OpenAI output writer on a full disk", () => {
  let t: TestServer;
  const original = FileStorage.prototype.createWriteStream;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    FileStorage.prototype.createWriteStream = original;
    await t.close();
  });

  it("fails the batch with a clear error instead of crashing, and writes later batches again", async () => {
    const id = await createBatch(t);
    FileStorage.prototype.createWriteStream = (path: string) =>
      new Writable({
        write(_chunk, _enc, cb) {
          cb(
            Object.assign(new Error(`ENOSPC: no space left on device, write ${path.length}`), {
              code: "ENOSPC",
            }),
          );
        },
      });
    const failed = await ended(t, id);
    expect(failed.status).toBe("failed");
    expect(failed.output_file_id).toBeNull();
    expect(failed.errors.data[0]).toMatchObject({ code: "output_write_failed" });
    expect(failed.errors.data[0].message).toMatch(/output file could not be written: ENOSPC/);
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);

    FileStorage.prototype.createWriteStream = original;
    const next = await ended(t, await createBatch(t));
    expect(next.status).toBe("completed");
    expect(next.output_file_id).toEqual(expect.any(String));
  });
});
