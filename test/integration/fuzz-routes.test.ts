/**
 * Property-based fuzzing of every route (issue 16): the routes are read from the started
 * server's /openapi.json; fast-check builds path parameters (real ids or any text), query
 * strings from each route's declared parameters and JSON bodies from its declared fields (or
 * any JSON value), with a fixed seed and a bounded number of runs. No answer may be a 5xx, and
 * every 4xx must be the error shape of the API its URL belongs to.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shapeOfUrl } from "../../src/server/error-layer/formats.js";
import { publishedAgent, startTestServer, type TestServer } from "../helpers/server.js";

const SEED = 20261130;
const RUNS = 300;

interface Operation {
  method: string;
  path: string;
  query: string[];
  body: string[] | null;
}

function operations(doc: any): Operation[] {
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries<any>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(methods)) {
      const query = (op.parameters ?? []).filter((p: any) => p.in === "query").map((p: any) => p.name);
      const json = op.requestBody?.content?.["application/json"]?.schema;
      ops.push({
        method: method.toUpperCase(),
        path,
        query,
        body: json ? Object.keys(json.properties ?? {}) : null,
      });
    }
  }
  return ops;
}

/** The error body of each API shape (error-layer/formats.ts). */
function assertErrorShape(url: string, status: number, body: any): void {
  const shape = shapeOfUrl(url);
  const where = `${status} ${url}: ${JSON.stringify(body)}`;
  if (shape === "codeer") {
    expect(body, where).toMatchObject({
      data: null,
      message: expect.any(String),
      error_code: expect.any(Number),
    });
  } else if (shape === "openai") {
    expect(body, where).toMatchObject({ error: { message: expect.any(String), type: expect.any(String) } });
    expect("param" in body.error && "code" in body.error, where).toBe(true);
  } else {
    expect(body, where).toMatchObject({
      type: "error",
      error: { type: expect.any(String), message: expect.any(String) },
    });
  }
}

const text = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.constantFrom(
    "",
    "-1",
    "0",
    "1",
    "1e99",
    "true",
    "null",
    "999999999999999999999",
    "%",
    "../..",
    "a".repeat(300),
  ),
);
const jsonValue = fc.jsonValue({ maxDepth: 4 });

describe("fuzzing every route", () => {
  let t: TestServer;
  let ops: Operation[];
  let ids: string[];
  beforeAll(async () => {
    t = await startTestServer(() => {}, { worker: false });
    ops = operations(await (await fetch(`${t.url}/openapi.json`)).json());
    const agent = await publishedAgent(t);
    const batch = await t.api("POST", "/api/v1/batches", {
      agent_id: agent,
      requests: [{ custom_id: "c1", message: "hi" }],
    });
    const chat = await t.api("POST", "/api/v1/chats", { agent_id: agent });
    ids = [agent, batch.body.data.id, String(chat.body.data.id), "c1"];
  });
  afterAll(async () => t.close());

  it("answers every generated request below 500, and every 4xx in its API's error shape", async () => {
    expect(ops.length).toBeGreaterThan(30);
    const request = fc.record({
      op: fc.nat({ max: ops.length - 1 }),
      params: fc.array(fc.oneof(fc.constantFrom(...ids), text), { minLength: 3, maxLength: 3 }),
      query: fc.dictionary(fc.string({ maxLength: 3 }), text, { maxKeys: 2 }),
      queryValues: fc.array(fc.option(text), { minLength: 6, maxLength: 6 }),
      body: fc.oneof(
        jsonValue,
        fc.array(fc.option(jsonValue), { minLength: 8, maxLength: 8 }),
        fc.constant(undefined),
      ),
    });
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const op = ops[r.op];
        let i = 0;
        const path = op.path.replace(/\{[^}]+\}/g, () => encodeURIComponent(r.params[i++] ?? ""));
        const q = new URLSearchParams();
        op.query.forEach((name, k) => {
          const v = r.queryValues[k];
          if (v !== null && v !== undefined) q.set(name, v);
        });
        for (const [k, v] of Object.entries(r.query)) q.set(k, v);
        // Declared fields with generated values (null: left out), or any JSON value as the body.
        let body: unknown = r.body;
        if (Array.isArray(r.body) && op.body) {
          body = Object.fromEntries(
            op.body.flatMap((f, k) =>
              (r.body as unknown[])[k] === null ? [] : [[f, (r.body as unknown[])[k]]],
            ),
          );
        }
        const url = `${path}${q.size > 0 ? `?${q}` : ""}`;
        const headers: Record<string, string> = { "x-api-key": t.key, authorization: `Bearer ${t.key}` };
        if (body !== undefined) headers["content-type"] = "application/json";
        const res = await fetch(`${t.url}${url}`, {
          method: op.method,
          headers,
          body: body === undefined || op.method === "GET" ? undefined : JSON.stringify(body),
        });
        if (res.status < 400) {
          await res.body?.cancel();
          return;
        }
        const raw = await res.text();
        expect(res.status, `${op.method} ${url} → ${res.status}: ${raw}`).toBeLessThan(500);
        let parsed: unknown;
        try {
          parsed = JSON.parse(raw);
        } catch {
          throw new Error(
            `${op.method} ${url} → ${res.status} with a body that is not JSON: ${raw.slice(0, 200)}`,
          );
        }
        assertErrorShape(url, res.status, parsed);
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
  }, 240_000);
});
