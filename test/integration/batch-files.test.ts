/**
 * Batch input files and exports: a 100,000-row CSV with custom column names and 3 bad rows in
 * both validation modes, JSON / JSONL inputs, and the export of a batch in JSON, JSONL and CSV
 * parsed back and compared with the paginated results API.
 */
import { parse } from "csv-parse/sync";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  publishedAgent,
  startTestServer,
  type TestServer,
  waitFor,
  waitForBatch,
  waitForIngest,
} from "../helpers/server.js";

const ROWS = 100_000;
/** Data rows (1-based) that are invalid: no message, no id, a repeated id. */
const BAD = { noMessage: 10, noId: 5_000, duplicate: 77_777 };

function bigCsv(): string {
  const lines = ["Ref,Question,Who,Topic,metadata.source,ignored"];
  for (let row = 1; row <= ROWS; row++) {
    const ref = row === BAD.noId ? "" : row === BAD.duplicate ? "ref-1" : `ref-${row}`;
    const question = row === BAD.noMessage ? "" : `"Question ${row}, please"`;
    lines.push(`${ref},${question},user-${row % 7},topic-${row % 3},src-${row % 2},x`);
  }
  return `${lines.join("\n")}\n`;
}

async function upload(t: TestServer, name: string, content: string, type = "text/plain"): Promise<any> {
  const form = new FormData();
  form.append("purpose", "batch_input");
  form.append("file", new Blob([content], { type }), name);
  const res = await fetch(`${t.url}/api/v1/files`, {
    method: "POST",
    headers: { "x-api-key": t.key },
    body: form,
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function download(
  t: TestServer,
  path: string,
): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(`${t.url}${path}`, { headers: { "x-api-key": t.key } });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** Exports the batch in all three formats, parses them back and compares with the results API. */
async function checkExports(t: TestServer, batchId: string, total: number): Promise<any[]> {
  // The paginated results API, the reference.
  const reference: any[] = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await t.api("GET", `/api/v1/batches/${batchId}/results?limit=1000&offset=${offset}`);
    reference.push(...page.body.data);
    if (page.body.data.length < 1000) break;
  }
  expect(reference).toHaveLength(total);

  const json = await download(t, `/api/v1/batches/${batchId}/results?format=json`);
  expect(json.status).toBe(200);
  expect(json.headers.get("content-type")).toContain("application/json");
  expect(json.headers.get("content-disposition")).toContain(`batch-${batchId}-results.json`);
  const parsedJson = JSON.parse(json.text);
  expect(parsedJson.error_code).toBe(0);
  expect(parsedJson.data).toEqual(reference);

  const jsonl = await download(t, `/api/v1/batches/${batchId}/results?format=jsonl`);
  expect(jsonl.headers.get("content-type")).toContain("application/x-ndjson");
  const lines = jsonl.text.trimEnd().split("\n");
  expect(lines.map((l) => JSON.parse(l))).toEqual(reference);

  const csv = await download(t, `/api/v1/batches/${batchId}/results?format=csv`);
  expect(csv.headers.get("content-type")).toContain("text/csv");
  const records = parse(csv.text, { columns: true }) as Record<string, string>[];
  expect(Object.keys(records[0])).toEqual([
    "custom_id",
    "status",
    "response_content",
    "error_code",
    "error_message",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "history_id",
    "conversation_id",
    "processed_at",
    "attempts",
    "agent_id",
    "cached_prompt_tokens",
  ]);
  expect(records).toHaveLength(reference.length);
  const str = (v: unknown) => (v === null || v === undefined ? "" : String(v));
  records.forEach((r, i) => {
    const ref = reference[i];
    expect(r).toEqual({
      custom_id: ref.custom_id,
      status: ref.status,
      response_content: str(ref.response_content),
      error_code: str(ref.error_code),
      error_message: str(ref.error_message),
      prompt_tokens: str(ref.response_usage?.total_prompt_tokens),
      completion_tokens: str(ref.response_usage?.total_completion_tokens),
      total_tokens: str(ref.response_usage?.total_tokens),
      history_id: str(ref.history_id),
      conversation_id: str(ref.conversation_id),
      processed_at: str(ref.processed_at),
      attempts: str(ref.attempts),
      agent_id: ref.agent_id,
      cached_prompt_tokens: str(ref.response_usage?.total_cached_prompt_tokens),
    });
  });
  return reference;
}

const MAPPING = { custom_id: "Ref", message: "Question", external_user_id: "Who", "context.topic": "Topic" };

/**
 * The 100,000-row file runs on an API-only server (no engine): ingest, validation and export are
 * what is checked; running 100k items would only add minutes. Finished batches are exported below.
 */
describe("a 100,000-row CSV input file", () => {
  let t: TestServer;
  let agent: string;
  let fileId: string;
  beforeAll(async () => {
    t = await startTestServer(() => {}, { worker: false });
    agent = await publishedAgent(t);
    const up = await upload(t, "questions.csv", bigCsv());
    expect(up.status).toBe(201);
    fileId = up.body.data.id;
  });
  afterAll(async () => t.close());

  it("uploads and describes a file", async () => {
    const got = await t.api("GET", `/api/v1/files/${fileId}`);
    expect(got.status).toBe(200);
    expect(got.body.data).toMatchObject({
      id: fileId,
      filename: "questions.csv",
      purpose: "batch_input",
      format: "csv",
    });
    expect(got.body.data.bytes).toBeGreaterThan(ROWS * 20);
    const wrongPurpose = new FormData();
    wrongPurpose.append("purpose", "attachment");
    wrongPurpose.append("file", new Blob(["a,b\n1,2\n"]), "x.csv");
    const res = await fetch(`${t.url}/api/v1/files`, {
      method: "POST",
      headers: { "x-api-key": t.key },
      body: wrongPurpose,
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).message).toContain("purpose");
    expect((await t.api("GET", "/api/v1/files/nope")).status).toBe(404);
  });

  it("fail mode: 3 bad rows fail the batch, no item is stored or run", async () => {
    const res = await t.api("POST", "/api/v1/batches", {
      agent_id: agent,
      file_id: fileId,
      column_mapping: MAPPING,
    });
    expect(res.status).toBe(202);
    expect(res.body.data.status).toBe("validating");
    const b = await waitForIngest(t, res.body.data.id);
    expect(b).toMatchObject({
      status: "failed",
      total_requests: 0,
      error_message: "3 validation error(s)",
      input_file_id: fileId,
      original_file_name: "questions.csv",
      input_format: "csv",
    });
    expect(b.validation_errors.map((e: any) => e.row).sort((x: number, y: number) => x - y)).toEqual([
      BAD.noMessage,
      BAD.noId,
      BAD.duplicate,
    ]);
    const byRow = new Map(b.validation_errors.map((e: any) => [e.row, e.error]));
    expect(byRow.get(BAD.noMessage)).toContain("message");
    expect(byRow.get(BAD.noId)).toContain("custom_id");
    expect(byRow.get(BAD.duplicate)).toContain("ref-1");
    const results = await t.api("GET", `/api/v1/batches/${b.id}/results`);
    expect(results.body.pagination.total_records).toBe(0);
  });

  it("skip mode: 99,997 items, the 3 bad rows reported; exports match the results API", async () => {
    const started = Date.now();
    const res = await t.api("POST", "/api/v1/batches", {
      agent_id: agent,
      file_id: fileId,
      column_mapping: MAPPING,
      on_invalid_rows: "skip",
      name: "big",
    });
    expect(res.status).toBe(202);
    expect(res.body.data.status).toBe("validating");
    const b = await waitForIngest(t, res.body.data.id);
    const ingestMs = Date.now() - started;
    expect(b).toMatchObject({ status: "in_progress", total_requests: ROWS - 3, error_message: null });
    expect(b.validation_errors).toHaveLength(3);
    console.log(`ingest of ${ROWS} CSV rows: ${ingestMs} ms`);

    const one = await t.api("GET", `/api/v1/batches/${b.id}/results/ref-42`);
    expect(one.body.data).toMatchObject({
      custom_id: "ref-42",
      status: "pending",
      context: { topic: "topic-0" },
      metadata: { source: "src-0" },
    });
    const exportStart = Date.now();
    const reference = await checkExports(t, b.id, ROWS - 3);
    console.log(`exports of ${ROWS - 3} results + comparison: ${Date.now() - exportStart} ms`);
    expect(reference[0]).toMatchObject({ custom_id: "ref-1", status: "pending" });
    const map = await t.api("GET", `/api/v1/batches/${b.id}/status-map?limit=2`);
    expect(map.body.data).toMatchObject({ pending: ["ref-1", "ref-2"], counts: { pending: ROWS - 3 } });
  }, 300_000);
});

describe("input files of every format, run to completion and exported", () => {
  let t: TestServer;
  let agent: string;
  beforeAll(async () => {
    t = await startTestServer();
    agent = await publishedAgent(t);
  });
  afterAll(async () => t.close());

  it("a CSV batch runs; its exports match the results API and usage is the sum over items", async () => {
    const lines = ["ID,Prompt,context.lang"];
    for (let i = 1; i <= 500; i++) lines.push(`id-${i},"Say ""${i}""",en`);
    const up = await upload(t, "small.csv", `${lines.join("\r\n")}\r\n`);
    const res = await t.api("POST", "/api/v1/batches", {
      agent_id: agent,
      file_id: up.body.data.id,
      column_mapping: { custom_id: "ID", message: "Prompt" },
    });
    expect(await waitForIngest(t, res.body.data.id)).toMatchObject({ total_requests: 500 });
    const done = await waitForBatch(t, res.body.data.id, undefined, 90_000);
    expect(done).toMatchObject({ status: "completed", completed_requests: 500 });
    const reference = await checkExports(t, done.id, 500);
    expect(reference[1].response_content).toContain('Say "2"');
    expect(reference[1].context).toEqual({ lang: "en" });
    const sum = reference.reduce((acc, r) => acc + r.response_usage.total_tokens, 0);
    expect(done.usage.total_tokens).toBe(sum);
    expect(done.usage.total_tokens).toBeGreaterThan(0);
  });

  it("JSON (array and {requests}) and JSONL inputs; bad JSONL lines are row errors", async () => {
    const items = [
      { custom_id: "a", message: "hello", context: { k: 1 } },
      { custom_id: "b", message: "world", "metadata.tag": "x" },
    ];
    for (const [name, content] of [
      ["arr.json", JSON.stringify(items)],
      ["obj.json", JSON.stringify({ requests: items, other: [1, 2] })],
      ["lines.jsonl", `${items.map((i) => JSON.stringify(i)).join("\n")}\n`],
    ] as const) {
      const up = await upload(t, name, content);
      expect(up.status).toBe(201);
      const res = await t.api("POST", "/api/v1/batches", { agent_id: agent, file_id: up.body.data.id });
      expect(res.status).toBe(202);
      expect(await waitForIngest(t, res.body.data.id)).toMatchObject({
        total_requests: 2,
        validation_errors: null,
      });
      const done = await waitForBatch(t, res.body.data.id);
      expect(done.completed_requests).toBe(2);
      const b = await t.api("GET", `/api/v1/batches/${done.id}/results/b`);
      expect(b.body.data.metadata).toEqual({ tag: "x" });
    }

    const up = await upload(t, "bad.jsonl", '{"custom_id":"a","message":"m"}\n{not json\n[1]\n');
    const failed = await t.api("POST", "/api/v1/batches", { agent_id: agent, file_id: up.body.data.id });
    const failedBatch = await waitForIngest(t, failed.body.data.id);
    expect(failedBatch.status).toBe("failed");
    expect(failedBatch.validation_errors.map((e: any) => e.row)).toEqual([2, 3]);
    const skipped = await t.api("POST", "/api/v1/batches", {
      agent_id: agent,
      file_id: up.body.data.id,
      on_invalid_rows: "skip",
    });
    expect(await waitForIngest(t, skipped.body.data.id)).toMatchObject({ total_requests: 1 });
    await waitForBatch(t, skipped.body.data.id);
  });

  it("file errors are 400s naming the field", async () => {
    const notJson = await upload(t, "x.json", '{"requests": [ {"custom_id": "a", "message": ');
    const res = await t.api("POST", "/api/v1/batches", { agent_id: agent, file_id: notJson.body.data.id });
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/^file_id: JSON parse error/);
    const empty = await upload(t, "h.csv", "custom_id,message\n");
    const emptyRes = await t.api("POST", "/api/v1/batches", { agent_id: agent, file_id: empty.body.data.id });
    expect(emptyRes.status).toBe(400);
    expect(emptyRes.body.message).toContain("no data rows");
    const small = await upload(t, "s.csv", "Question\nhi\n");
    const badMap = await t.api("POST", "/api/v1/batches", {
      agent_id: agent,
      file_id: small.body.data.id,
      column_mapping: { question: "Question" },
    });
    expect(badMap.status).toBe(400);
    expect(badMap.body.message).toContain("column_mapping.question");
    const unknown = await t.api("POST", "/api/v1/batches", { agent_id: agent, file_id: "missing" });
    expect(unknown.status).toBe(400);
    expect(unknown.body.message).toContain("file_id");
    const inlineOnly = await t.api("POST", "/api/v1/batches", {
      agent_id: agent,
      requests: [{ custom_id: "a", message: "b" }],
      on_invalid_rows: "skip",
    });
    expect(inlineOnly.status).toBe(400);
    expect(inlineOnly.body.message).toContain("on_invalid_rows");
    // Nothing left running from this test.
    await waitFor(async () => (await t.api("GET", "/api/v1/batches/active")).body.data.length === 0, {
      what: "no active batches",
    });
  });
});
