/**
 * Record caps (issue 16, item 7): a CSV record, a JSONL line (Codeer and OpenAI shapes) or an
 * Anthropic batch request over `maxRecordBytes` is a 400 naming the line or request, without
 * the record ever being held whole.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishedAgent, startTestServer, type TestServer, waitForIngest } from "../helpers/server.js";

const MAX = 2000;
const BIG = "x".repeat(MAX + 500);

async function upload(t: TestServer, path: string, purpose: string, name: string, content: string) {
  const form = new FormData();
  form.append("purpose", purpose);
  form.append("file", new Blob([content]), name);
  const res = await fetch(`${t.url}${path}`, {
    method: "POST",
    headers: { "x-api-key": t.key, authorization: `Bearer ${t.key}` },
    body: form,
  });
  const body = (await res.json()) as any;
  return body.data?.id ?? body.id;
}

const line = (id: string, text: string) =>
  JSON.stringify({
    custom_id: id,
    method: "POST",
    url: "/v1/chat/completions",
    body: { model: "simulated/echo", messages: [{ role: "user", content: text }] },
  });

describe("record caps", () => {
  let t: TestServer;
  let agent: string;
  beforeAll(async () => {
    t = await startTestServer(
      (c) => {
        c.maxRecordBytes = MAX;
      },
      { worker: false },
    );
    agent = await publishedAgent(t);
  });
  afterAll(async () => t.close());

  it("refuses a CSV file with a record over the limit, naming its line", async () => {
    const fileId = await upload(
      t,
      "/api/v1/files",
      "batch_input",
      "in.csv",
      `custom_id,message\na,hi\nb,${BIG}\n`,
    );
    const res = await t.api("POST", "/api/v1/batches", { agent_id: agent, file_id: fileId });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ data: null, error_code: 10006 });
    expect(res.body.message).toMatch(/^file_id: CSV parse error on line 3/);
  });

  it("fails a JSONL file with a line over the limit, naming the line", async () => {
    const content = `${JSON.stringify({ custom_id: "a", message: "hi" })}\n${JSON.stringify({ custom_id: "b", message: BIG })}\n`;
    const fileId = await upload(t, "/api/v1/files", "batch_input", "in.jsonl", content);
    const res = await t.api("POST", "/api/v1/batches", { agent_id: agent, file_id: fileId });
    // The first line is read before the create answers; the rest in the background, so a later
    // line over the limit fails the batch with the line named.
    expect(res.status).toBe(202);
    const ended = await waitForIngest(t, res.body.data.id);
    expect(ended).toMatchObject({ status: "failed", total_requests: 0 });
    expect(ended.error_message).toBe(`file_id: line 2 is longer than the limit of ${MAX} bytes`);
    const ok = await upload(
      t,
      "/api/v1/files",
      "batch_input",
      "ok.jsonl",
      `${JSON.stringify({ custom_id: "a", message: "hi" })}\r\n`,
    );
    expect((await t.api("POST", "/api/v1/batches", { agent_id: agent, file_id: ok })).status).toBe(202);
  });

  it("fails a JSON-array file with an element over the limit, naming the element", async () => {
    const small = (i: number) => ({ custom_id: `s${i}`, message: "hi ".repeat(100) });
    // Each element is under the cap, the file well over it: only an element's size counts.
    const fine = Array.from({ length: 20 }, (_, i) => small(i));
    const okFile = await upload(t, "/api/v1/files", "batch_input", "ok.json", JSON.stringify(fine));
    const ok = await t.api("POST", "/api/v1/batches", { agent_id: agent, file_id: okFile });
    expect(ok.status).toBe(202);
    expect(await waitForIngest(t, ok.body.data.id)).toMatchObject({
      status: "in_progress",
      total_requests: 20,
    });
    const many = Array.from({ length: 600 }, (_, i) => small(i));
    for (const [name, content, index] of [
      ["bare.json", JSON.stringify([small(0), small(1), { custom_id: "b", message: BIG }]), 2],
      [
        "wrapped.json",
        JSON.stringify({ requests: [small(0), small(1), { custom_id: "b", message: BIG }] }),
        2,
      ],
      ["late.json", JSON.stringify([...many, { custom_id: "b", nested: [[1, true], { m: BIG }] }]), 600],
    ] as const) {
      const fileId = await upload(t, "/api/v1/files", "batch_input", name, content);
      const res = await t.api("POST", "/api/v1/batches", { agent_id: agent, file_id: fileId });
      // The parser reads ahead: the element may be reached before the create answers (a 400)
      // or in the background ingest (the batch fails); either way the element is named.
      let message: string;
      if (res.status === 400) {
        expect(res.body).toMatchObject({ data: null, error_code: 10006 });
        message = res.body.message;
      } else {
        expect(res.status, name).toBe(202);
        const ended = await waitForIngest(t, res.body.data.id);
        expect(ended, name).toMatchObject({ status: "failed", total_requests: 0 });
        message = ended.error_message;
      }
      expect(message, name).toBe(
        `file_id: array element ${index} (request ${index + 1}) is larger than the limit of ${MAX} bytes`,
      );
    }
  });

  it("refuses an OpenAI input file with a line over the limit, naming the line", async () => {
    const fileId = await upload(
      t,
      "/v1/files",
      "batch",
      "in.jsonl",
      `${line("a", "hi")}\n${line("b", "hi")}\n${line("c", BIG)}\n`,
    );
    const res = await t.api("POST", "/v1/batches", {
      input_file_id: fileId,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({
      message: `input_file_id: line 3 is longer than the limit of ${MAX} bytes`,
      param: "input_file_id",
    });
  });

  it("refuses an Anthropic batch request over the limit, naming the request", async () => {
    const params = (text: string) => ({
      model: "simulated/echo",
      max_tokens: 10,
      messages: [{ role: "user", content: text }],
    });
    const res = await t.api("POST", "/v1/messages/batches", {
      requests: [
        { custom_id: "a", params: params("hi") },
        { custom_id: "b", params: params(BIG) },
      ],
    });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      type: "error",
      error: {
        type: "invalid_request_error",
        message: `requests.1.params: larger than the limit of ${MAX} bytes for one request`,
      },
    });
  });
});
