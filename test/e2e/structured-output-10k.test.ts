/**
 * Issue 14's check: a batch of 10,000 items on an agent with a `json_schema`, on the simulated
 * model at zero latency (SQLite): every success validates against the schema (checked here with
 * a separate ajv), the items marked `[invalid-json]` are repaired (two calls), those marked
 * `[invalid-json:always]` fail 422, and the CSV export carries the `json.<property>` columns.
 */
import { Ajv } from "ajv";
import { parse } from "csv-parse/sync";
import { afterAll, beforeAll, expect, it } from "vitest";
import { publishedAgent, startTestServer, type TestServer, waitForBatch } from "../helpers/server.js";

const N = 10_000;
const schema = {
  type: "object",
  properties: {
    category: { type: "string", enum: ["billing", "bug", "other"] },
    urgency: { type: "integer", minimum: 1, maximum: 5 },
    summary: { type: "string", minLength: 3, maxLength: 60 },
    keywords: { type: "array", items: { type: "string" }, minItems: 1, maxItems: 4 },
  },
  required: ["category", "urgency", "summary", "keywords"],
  additionalProperties: false,
};
const marker = (i: number) =>
  i % 500 === 1 ? " [invalid-json]" : i % 1000 === 2 ? " [invalid-json:always]" : "";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer((c) => {
    c.engine.pollIntervalMs = 20;
  });
});
afterAll(async () => t.close());

it("10,000 items with a json_schema: every success validates, repairs and 422s as marked", async () => {
  const agent = await publishedAgent(t, {
    model: "simulated/echo?latency_ms=0",
    response_format: { type: "json_schema", json_schema: { name: "ticket", schema, strict: true } },
  });
  const lines = Array.from({ length: N }, (_, i) =>
    JSON.stringify({ custom_id: `t-${i}`, message: `Ticket number ${i}${marker(i)}` }),
  );
  const form = new FormData();
  form.append("purpose", "batch_input");
  form.append("file", new Blob([`${lines.join("\n")}\n`]), "tickets.jsonl");
  const up = await fetch(`${t.url}/api/v1/files`, {
    method: "POST",
    headers: { "x-api-key": t.key },
    body: form,
  });
  expect(up.status).toBe(201);
  const fileId = ((await up.json()) as any).data.id;
  const started = Date.now();
  const res = await t.api("POST", "/api/v1/batches", { agent_id: agent, file_id: fileId });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  const done = await waitForBatch(t, res.body.data.id, undefined, 170_000);
  console.log(`structured output: ${N} items in ${Date.now() - started} ms`);
  const failing = Array.from({ length: N }, (_, i) => i).filter((i) => marker(i).includes("always")).length;
  expect(done).toMatchObject({
    status: "completed",
    completed_requests: N - failing,
    failed_requests: failing,
  });

  const res2 = await fetch(`${t.url}/api/v1/batches/${done.id}/results?format=csv`, {
    headers: { "x-api-key": t.key },
  });
  const rows = parse(await res2.text(), { columns: true }) as Record<string, string>[];
  expect(rows).toHaveLength(N);
  expect(Object.keys(rows[0]).slice(-4)).toEqual([
    "json.category",
    "json.urgency",
    "json.summary",
    "json.keywords",
  ]);

  const jsonl = await fetch(`${t.url}/api/v1/batches/${done.id}/results?format=jsonl`, {
    headers: { "x-api-key": t.key },
  });
  const results = (await jsonl.text())
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l));
  expect(results).toHaveLength(N);
  const validate = new Ajv({ allErrors: true }).compile(schema);
  let repaired = 0;
  for (const r of results) {
    const i = Number(r.custom_id.slice(2));
    if (marker(i).includes("always")) {
      expect(r).toMatchObject({ status: "failed", error_code: 422 });
      continue;
    }
    expect(r.status).toBe("success");
    expect(validate(r.response_json), `${r.custom_id}: ${JSON.stringify(validate.errors)}`).toBe(true);
    expect(r.response_usage.total_calls).toBe(marker(i) ? 2 : 1);
    if (r.response_usage.total_calls === 2) repaired++;
  }
  expect(repaired).toBe(
    Array.from({ length: N }, (_, i) => i).filter((i) => marker(i) === " [invalid-json]").length,
  );
}, 180_000);
