import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer, waitFor } from "../helpers/server.js";

/** An OpenAI batch input file: one chat-completions request per line. */
function inputFile(n: number, model: string, prefix = "req"): string {
  let out = "";
  for (let i = 0; i < n; i++) {
    out += `${JSON.stringify({
      custom_id: `${prefix}-${i}`,
      method: "POST",
      url: "/v1/chat/completions",
      body: {
        model,
        messages: [
          { role: "system", content: "You are terse." },
          { role: "user", content: `Question number ${i}` },
        ],
        max_tokens: 64,
      },
    })}\n`;
  }
  return out;
}

async function waitForStatus(
  client: OpenAI,
  id: string,
  statuses: string[],
  timeoutMs = 30_000,
): Promise<OpenAI.Batches.Batch> {
  return waitFor<OpenAI.Batches.Batch | null>(
    async () => {
      const b = await client.batches.retrieve(id);
      return statuses.includes(b.status) ? b : null;
    },
    { timeoutMs, what: `batch ${id} to reach ${statuses.join("/")}` },
  ) as Promise<OpenAI.Batches.Batch>;
}

function jsonl(text: string): any[] {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l));
}

describe("the OpenAI Batch API with the official SDK", () => {
  let t: TestServer;
  let client: OpenAI;
  beforeAll(async () => {
    t = await startTestServer((c) => {
      c.engine.concurrency = 32;
      c.models = { "gpt-4o-mini": "simulated/gpt-4o-mini" };
    });
    client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: t.key, maxRetries: 0 });
  });
  afterAll(async () => t.close());

  it("runs 1,000 chat completions from an uploaded file and returns every custom_id in the output file", async () => {
    const uploaded = await client.files.create({
      file: await toFile(Buffer.from(inputFile(1000, "gpt-4o-mini")), "requests.jsonl"),
      purpose: "batch",
    });
    expect(uploaded).toMatchObject({ object: "file", purpose: "batch", filename: "requests.jsonl" });
    expect(uploaded.id).toMatch(/^file-/);

    const created = await client.batches.create({
      input_file_id: uploaded.id,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
      metadata: { job: "nightly" },
    });
    expect(created).toMatchObject({
      object: "batch",
      endpoint: "/v1/chat/completions",
      input_file_id: uploaded.id,
      completion_window: "24h",
      errors: null,
      metadata: { job: "nightly" },
      request_counts: { total: 1000 },
    });
    expect(created.id).toMatch(/^batch_/);

    const done = await waitForStatus(client, created.id, ["completed", "failed", "expired", "cancelled"]);
    expect(done.status).toBe("completed");
    expect(done.request_counts).toEqual({ total: 1000, completed: 1000, failed: 0 });
    expect(done.output_file_id).toMatch(/^file-/);
    expect(done.error_file_id).toBeNull();
    expect(done.completed_at).toBeGreaterThanOrEqual(done.created_at);
    expect(done.usage?.total_tokens).toBeGreaterThan(0);

    const content = await client.files.content(done.output_file_id as string);
    const lines = jsonl(await content.text());
    expect(lines).toHaveLength(1000);
    const ids = new Set(lines.map((l) => l.custom_id));
    for (let i = 0; i < 1000; i++) expect(ids.has(`req-${i}`)).toBe(true);
    const first = lines.find((l) => l.custom_id === "req-7");
    expect(first).toMatchObject({
      error: null,
      response: {
        status_code: 200,
        body: {
          object: "chat.completion",
          model: "gpt-4o-mini",
          choices: [
            {
              index: 0,
              message: { role: "assistant", content: "Echo: Question number 7" },
              finish_reason: "stop",
            },
          ],
        },
      },
    });
    const usage = first.response.body.usage;
    expect(usage.total_tokens).toBe(usage.prompt_tokens + usage.completion_tokens);
    const sum = lines.reduce((s, l) => s + l.response.body.usage.total_tokens, 0);
    expect(done.usage?.total_tokens).toBe(sum);

    const outFile = await client.files.retrieve(done.output_file_id as string);
    expect(outFile).toMatchObject({ purpose: "batch_output", object: "file" });

    // The same batch through the Codeer routes: one store.
    const codeer = await t.api("GET", `/api/v1/batches/${created.id}`);
    expect(codeer.body.data).toMatchObject({ id: created.id, status: "completed", completed_requests: 1000 });

    const listed = await client.batches.list({ limit: 10 });
    expect(listed.data.map((b) => b.id)).toContain(created.id);
  });

  it("cancels a batch mid-way: finished requests go to the output file, the rest to the error file", async () => {
    const uploaded = await client.files.create({
      file: await toFile(Buffer.from(inputFile(200, "simulated/echo?latency_ms=40", "slow")), "slow.jsonl"),
      purpose: "batch",
    });
    const created = await client.batches.create({
      input_file_id: uploaded.id,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    await waitFor(async () => (await client.batches.retrieve(created.id)).request_counts?.completed ?? 0, {
      what: "some requests to complete",
    });
    const cancelling = await client.batches.cancel(created.id);
    expect(["cancelling", "cancelled"]).toContain(cancelling.status);
    const cancelled = await waitForStatus(client, created.id, ["cancelled"]);
    const counts = cancelled.request_counts as { total: number; completed: number; failed: number };
    expect(counts.total).toBe(200);
    expect(counts.completed).toBeGreaterThan(0);
    expect(counts.failed).toBeGreaterThan(0);
    expect(counts.completed + counts.failed).toBe(200);
    expect(cancelled.cancelling_at).not.toBeNull();
    expect(cancelled.cancelled_at).not.toBeNull();

    const out = jsonl(await (await client.files.content(cancelled.output_file_id as string)).text());
    const err = jsonl(await (await client.files.content(cancelled.error_file_id as string)).text());
    expect(out).toHaveLength(counts.completed);
    expect(err).toHaveLength(counts.failed);
    expect(err[0]).toMatchObject({ response: null, error: { code: "batch_cancelled" } });
    const all = new Set([...out, ...err].map((l) => l.custom_id));
    expect(all.size).toBe(200);
  });

  it("fails a batch whose input file has invalid lines, listing them as OpenAI does", async () => {
    const good = inputFile(2, "simulated/echo").trim().split("\n");
    const lines = [
      good[0],
      "not json",
      JSON.stringify({ custom_id: "x", method: "GET", url: "/v1/chat/completions", body: {} }),
      JSON.stringify({ ...JSON.parse(good[1]), custom_id: "req-0" }),
      JSON.stringify({
        custom_id: "m",
        method: "POST",
        url: "/v1/chat/completions",
        body: { model: "gpt-nonexistent", messages: [{ role: "user", content: "hi" }] },
      }),
    ];
    const uploaded = await client.files.create({
      file: await toFile(Buffer.from(lines.join("\n")), "bad.jsonl"),
      purpose: "batch",
    });
    const batch = await client.batches.create({
      input_file_id: uploaded.id,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    expect(batch.status).toBe("failed");
    expect(batch.failed_at).not.toBeNull();
    const errors = batch.errors?.data ?? [];
    expect(errors.map((e) => [e.line, e.code])).toEqual([
      [2, "invalid_json_line"],
      [3, "invalid_value"],
      [4, "duplicate_custom_id"],
      [5, "model_not_found"],
    ]);
    expect(errors[3].param).toBe("body.model");
  });

  it("answers bad input with the SDK's typed errors", async () => {
    await expect(
      client.batches.create({
        input_file_id: "file-doesnotexist",
        endpoint: "/v1/chat/completions",
        completion_window: "24h",
      }),
    ).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.batches.retrieve("batch_nope")).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const uploaded = await client.files.create({
      file: await toFile(Buffer.from(inputFile(1, "simulated/echo")), "one.jsonl"),
      purpose: "batch",
    });
    const wrongEndpoint = client.batches.create({
      input_file_id: uploaded.id,
      endpoint: "/v1/completions" as "/v1/chat/completions",
      completion_window: "24h",
    });
    await expect(wrongEndpoint).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(wrongEndpoint).rejects.toMatchObject({ param: "endpoint" });
    await expect(
      client.batches.create({
        input_file_id: uploaded.id,
        endpoint: "/v1/chat/completions",
        completion_window: "48h" as "24h",
      }),
    ).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    const badKey = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: "ab_wrong", maxRetries: 0 });
    await expect(badKey.batches.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it("lists, retrieves and deletes files", async () => {
    const a = await client.files.create({
      file: await toFile(Buffer.from(inputFile(1, "simulated/echo")), "a.jsonl"),
      purpose: "batch",
    });
    const got = await client.files.retrieve(a.id);
    expect(got).toMatchObject({ id: a.id, bytes: a.bytes, filename: "a.jsonl" });
    const listed = await client.files.list({ purpose: "batch" });
    expect(listed.data.map((f) => f.id)).toContain(a.id);
    const deleted = await client.files.delete(a.id);
    expect(deleted).toMatchObject({ id: a.id, deleted: true });
    await expect(client.files.retrieve(a.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });
});
