import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { parseRetryAfter } from "../../src/client/http.js";
import { AgentbatchClient, AgentbatchConnectionError, AgentbatchError } from "../../src/client/index.js";

/** A tiny server answering from a script of [status, headers, body], then 200s. */
async function scripted(script: [number, Record<string, string>, unknown][]) {
  const hits: { method: string; url: string; at: number; headers: Record<string, unknown> }[] = [];
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      hits.push({ method: req.method ?? "", url: req.url ?? "", at: Date.now(), headers: req.headers });
      const [status, headers, body] = script.shift() ?? [
        200,
        {},
        { data: { id: "b1" }, message: null, error_code: 0 },
      ];
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, hits, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const unavailable = { data: null, message: "Service unavailable", error_code: 10005 };
let close: (() => Promise<void>) | null = null;
afterEach(async () => {
  await close?.();
  close = null;
});

describe("client retries", () => {
  it("retries a 503 after the Retry-After it was given, then succeeds", async () => {
    const s = await scripted([[503, { "retry-after": "1" }, unavailable]]);
    close = s.close;
    const client = new AgentbatchClient({ baseUrl: s.url, apiKey: "k" });
    const batch = await client.batches.get("b1");
    expect(batch.id).toBe("b1");
    expect(s.hits).toHaveLength(2);
    expect(s.hits[1].at - s.hits[0].at).toBeGreaterThanOrEqual(950);
    expect(s.hits[0].headers["x-api-key"]).toBe("k");
  });

  it("retries a 429 even for a POST, honouring Retry-After", async () => {
    const s = await scripted([
      [429, { "retry-after": "0.2" }, { data: null, message: "Too many requests", error_code: 10029 }],
    ]);
    close = s.close;
    const client = new AgentbatchClient({ baseUrl: s.url });
    await client.batches.pause("b1");
    expect(s.hits.map((h) => h.method)).toEqual(["POST", "POST"]);
    expect(s.hits[1].at - s.hits[0].at).toBeGreaterThanOrEqual(180);
  });

  it("gives up after maxRetries with the typed error", async () => {
    const s = await scripted([
      [503, {}, unavailable],
      [503, {}, unavailable],
      [503, {}, unavailable],
    ]);
    close = s.close;
    const client = new AgentbatchClient({ baseUrl: s.url, maxRetries: 2, retryBaseMs: 5 });
    const err = await client.batches.get("b1").catch((e) => e);
    expect(err).toBeInstanceOf(AgentbatchError);
    expect(err).toMatchObject({ status: 503, errorCode: 10005, retryable: true });
    expect(s.hits).toHaveLength(3);
  });

  it("never repeats a POST that is not idempotent after a 5xx", async () => {
    const s = await scripted([[500, {}, unavailable]]);
    close = s.close;
    const client = new AgentbatchClient({ baseUrl: s.url, retryBaseMs: 5 });
    await expect(client.agents.create({ name: "a", model: "simulated/echo" })).rejects.toMatchObject({
      status: 500,
    });
    expect(s.hits).toHaveLength(1);
  });

  it("sends a create with an Idempotency-Key, the same on every retry", async () => {
    const s = await scripted([[502, {}, unavailable]]);
    close = s.close;
    const client = new AgentbatchClient({ baseUrl: s.url, retryBaseMs: 5 });
    await client.batches.create({ agent_id: "a", requests: [{ custom_id: "1", message: "hi" }] });
    expect(s.hits).toHaveLength(2);
    const keys = s.hits.map((h) => h.headers["idempotency-key"]);
    expect(keys[0]).toBeTruthy();
    expect(keys[1]).toBe(keys[0]);
  });

  it("does not retry a 4xx", async () => {
    const s = await scripted([[404, {}, { data: null, message: "Batch not found", error_code: 10003 }]]);
    close = s.close;
    const client = new AgentbatchClient({ baseUrl: s.url });
    await expect(client.batches.get("x")).rejects.toMatchObject({ status: 404, errorCode: 10003 });
    expect(s.hits).toHaveLength(1);
  });

  it("reports an unreachable server as AgentbatchConnectionError (status 0)", async () => {
    const s = await scripted([]);
    await s.close();
    const client = new AgentbatchClient({ baseUrl: s.url, maxRetries: 1, retryBaseMs: 5 });
    const err = await client.batches.get("x").catch((e) => e);
    expect(err).toBeInstanceOf(AgentbatchConnectionError);
    expect(err.status).toBe(0);
  });

  it("resume: a 409 to a repeat after a 5xx means the first try went through; it returns the running batch", async () => {
    const conflict = {
      data: null,
      message: "Batch b1 is in_progress; only a paused batch can be resumed",
      error_code: 10009,
    };
    const running = { data: { id: "b1", status: "in_progress" }, message: null, error_code: 0 };
    const s = await scripted([
      [503, {}, unavailable],
      [409, {}, conflict],
      [200, {}, running],
    ]);
    close = s.close;
    const client = new AgentbatchClient({ baseUrl: s.url, retryBaseMs: 5 });
    await expect(client.batches.resume("b1")).resolves.toMatchObject({ id: "b1", status: "in_progress" });
    expect(s.hits.map((h) => `${h.method} ${h.url}`)).toEqual([
      "POST /api/v1/batches/b1/resume",
      "POST /api/v1/batches/b1/resume",
      "GET /api/v1/batches/b1",
    ]);
  });

  it("resume: a 409 stays an error on a first try, after a 429, or when the batch is still halted", async () => {
    const conflict = {
      data: null,
      message: "Batch b1 is in_progress; only a paused batch can be resumed",
      error_code: 10009,
    };
    const limited = { data: null, message: "Too many requests", error_code: 10029 };
    const cancelled = { data: { id: "b1", status: "cancelled" }, message: null, error_code: 0 };
    const s = await scripted([
      [409, {}, conflict],
      [429, { "retry-after": "0" }, limited],
      [409, {}, conflict],
      [503, {}, unavailable],
      [409, {}, conflict],
      [200, {}, cancelled],
    ]);
    close = s.close;
    const client = new AgentbatchClient({ baseUrl: s.url, retryBaseMs: 5 });
    await expect(client.batches.resume("b1")).rejects.toMatchObject({ status: 409 });
    expect(s.hits).toHaveLength(1);
    // A 429 was refused before anything happened: the 409 after it is the answer.
    await expect(client.batches.resume("b1")).rejects.toMatchObject({ status: 409 });
    expect(s.hits).toHaveLength(3);
    await expect(client.batches.resume("b1")).rejects.toMatchObject({ status: 409 });
    expect(s.hits.map((h) => h.method)).toEqual(["POST", "POST", "POST", "POST", "POST", "GET"]);
  });

  it("retry: never repeated after a 5xx (a repeat could run the failed requests twice), but after a 429", async () => {
    const s = await scripted([
      [503, {}, unavailable],
      [429, { "retry-after": "0" }, { data: null, message: "Too many requests", error_code: 10029 }],
    ]);
    close = s.close;
    const client = new AgentbatchClient({ baseUrl: s.url, retryBaseMs: 5 });
    await expect(client.batches.retry("b1")).rejects.toMatchObject({ status: 503 });
    expect(s.hits).toHaveLength(1);
    await expect(client.batches.retry("b1")).resolves.toMatchObject({ id: "b1" });
    expect(s.hits).toHaveLength(3);
  });

  it("parses Retry-After as seconds or an HTTP date", () => {
    expect(parseRetryAfter("3")).toBe(3000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(parseRetryAfter(null)).toBeNull();
    expect(parseRetryAfter("soon")).toBeNull();
  });
});
