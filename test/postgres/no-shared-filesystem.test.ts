/**
 * Scale-out without a shared filesystem: an API node and a worker process on PostgreSQL, each
 * with its own (empty) data directory. File bytes live in the database, so the worker reads the
 * attachments the API node took in, a 100,000-row input file uploaded to the API node is ingested
 * and exported, and an OpenAI-shaped batch's output file written by the API node is readable.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, expect, it } from "vitest";
import { dropSchema } from "../../src/store/postgres/admin.js";
import { type CliProcess, killHard, startCli } from "../helpers/processes.js";
import {
  freshPostgresUrl,
  publishedAgent,
  startTestServer,
  type TestServer,
  waitFor,
  waitForBatch,
} from "../helpers/server.js";

const apiDir = mkdtempSync(join(tmpdir(), "agentbatch-api-node-"));
const workerDir = mkdtempSync(join(tmpdir(), "agentbatch-worker-"));
const db = freshPostgresUrl();
let api: TestServer;
let worker: CliProcess;

beforeAll(async () => {
  api = await startTestServer(
    (c) => {
      c.dataDir = apiDir;
      c.models = { "gpt-4o-mini": "simulated/gpt-4o-mini" };
    },
    { worker: false, db },
  );
  worker = startCli(["worker", "--db", db], {
    AGENTBATCH_DATA_DIR: workerDir,
    AGENTBATCH_CONCURRENCY: "256",
  });
});

afterAll(async () => {
  await killHard(worker);
  await api.close();
  await dropSchema(db);
  rmSync(apiDir, { recursive: true, force: true });
  rmSync(workerDir, { recursive: true, force: true });
});

async function upload(path: string, form: FormData): Promise<any> {
  const res = await fetch(`${api.url}${path}`, {
    method: "POST",
    headers: { "x-api-key": api.key },
    body: form,
  });
  const body = await res.json();
  expect(res.status, JSON.stringify(body)).toBeLessThan(300);
  return body.data;
}

/** Every file under a data directory (there should be none: the bytes are in the database). */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => e.name);
}

it("the worker answers with attachments the API node received", async () => {
  const form = new FormData();
  form.append("file", new Blob(["the launch code is tangerine-42"], { type: "text/plain" }), "notes.txt");
  const file = await upload("/api/v1/chats/upload-file", form);
  const agentId = await publishedAgent(api);
  const requests = [0, 1, 2].map((i) => ({
    custom_id: `a${i}`,
    message: `read it ${i}`,
    attached_file_uuids: [file.uuid],
  }));
  const created = await api.api("POST", "/api/v1/batches", { agent_id: agentId, requests });
  expect(created.status, JSON.stringify(created.body)).toBeLessThan(300);
  const done = await waitForBatch(api, created.body.data.id).catch((err) => {
    throw new Error(`${err.message}\nworker: ${worker.output.join("")}`);
  });
  expect(done).toMatchObject({ status: "completed", completed_requests: 3 });
  const results = await api.api("GET", `/api/v1/batches/${done.id}/results`);
  for (const r of results.body.data) expect(r.response_content).toContain("tangerine-42");
});

it("a 100,000-row input file uploaded to the API node is ingested, run by the worker and exported", {
  timeout: 300_000,
}, async () => {
  let csv = "custom_id,message\n";
  for (let i = 0; i < 100_000; i++) csv += `row-${i},question ${i}\n`;
  const form = new FormData();
  form.append("purpose", "batch_input");
  form.append("file", new Blob([csv], { type: "text/csv" }), "questions.csv");
  const file = await upload("/api/v1/files", form);
  const agentId = await publishedAgent(api);
  const created = await api.api("POST", "/api/v1/batches", { agent_id: agentId, file_id: file.id });
  expect(created.status, JSON.stringify(created.body)).toBeLessThan(300);
  const id = created.body.data.id;
  // The worker runs it; a few hundred results are enough to see it work, then the rest is cancelled.
  await waitFor(
    async () =>
      (await api.api("GET", `/api/v1/batches/${id}`)).body.data.completed_requests >= 200 ? true : null,
    { timeoutMs: 120_000, what: "200 results" },
  );
  await api.api("POST", `/api/v1/batches/${id}/cancel`);
  const ended = await waitForBatch(api, id, undefined, 120_000);
  expect(ended.total_requests).toBe(100_000);
  const res = await fetch(`${api.url}/api/v1/batches/${id}/results?format=csv`, {
    headers: { "x-api-key": api.key },
  });
  const lines = (await res.text()).trim().split("\n");
  expect(lines.length).toBe(100_001);
  expect(lines.filter((l) => l.includes(",success,")).length).toBe(ended.completed_requests);
});

it("an OpenAI-shaped batch's output file is written and served without a shared directory", async () => {
  const client = new OpenAI({ baseURL: `${api.url}/v1`, apiKey: api.key, maxRetries: 0 });
  const lines = [0, 1, 2, 3].map((i) =>
    JSON.stringify({
      custom_id: `o${i}`,
      method: "POST",
      url: "/v1/chat/completions",
      body: { model: "gpt-4o-mini", messages: [{ role: "user", content: `q${i}` }] },
    }),
  );
  const input = await client.files.create({
    file: await toFile(Buffer.from(lines.join("\n")), "in.jsonl"),
    purpose: "batch",
  });
  const batch = await client.batches.create({
    input_file_id: input.id,
    endpoint: "/v1/chat/completions",
    completion_window: "24h",
  });
  const done = await waitFor(
    async () => {
      const b = await client.batches.retrieve(batch.id);
      return b.status === "completed" && b.output_file_id ? b : null;
    },
    { timeoutMs: 60_000, what: "the output file" },
  );
  const output = await (await client.files.content(done?.output_file_id as string)).text();
  expect(
    output
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l).custom_id)
      .sort(),
  ).toEqual(["o0", "o1", "o2", "o3"]);
  expect(filesUnder(apiDir)).toEqual([]);
  expect(filesUnder(workerDir)).toEqual([]);
});
