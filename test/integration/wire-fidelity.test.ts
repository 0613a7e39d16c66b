/**
 * Issue 19: nothing the API accepts is dropped, and the seeds' state rules hold. Inline requests
 * carry their own context and metadata; a batch carries its own, on the batch object and in its
 * webhook events; unknown fields are refused by name; resume of a running batch is a 409; a
 * chat's messages come a page at a time.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  publishedAgent,
  startTestServer,
  type TestServer,
  waitFor,
  waitForBatch,
} from "../helpers/server.js";

let t: TestServer;
let agentId: string;
let receiver: Server;
let receiverUrl: string;
const received: any[] = [];

beforeAll(async () => {
  t = await startTestServer((c) => {
    c.webhooks.allowPrivateTargets = true;
  });
  agentId = await publishedAgent(t);
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      received.push(JSON.parse(body));
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
});

afterAll(async () => {
  await t.close();
  await new Promise((r) => receiver.close(r));
});

const expectBadRequest = (res: { status: number; body: any }, text: string) => {
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  expect(res.body).toMatchObject({ data: null, error_code: 10006 });
  expect(res.body.message).toContain(text);
};

describe("context and metadata", () => {
  it("stores and returns an inline request's context and metadata with its result", async () => {
    const created = await t.api("POST", "/api/v1/batches", {
      agent_id: agentId,
      requests: [
        { custom_id: "a", message: "one", context: { topic: "billing" }, metadata: { row: 7, tags: ["x"] } },
        { custom_id: "b", message: "two" },
      ],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    await waitForBatch(t, created.body.data.id);
    const results = await t.api("GET", `/api/v1/batches/${created.body.data.id}/results`);
    expect(results.body.data.map((r: any) => [r.custom_id, r.context, r.metadata])).toEqual([
      ["a", { topic: "billing" }, { row: 7, tags: ["x"] }],
      ["b", null, null],
    ]);
  });

  it("keeps a batch's own context and metadata on the batch and in its webhook events", async () => {
    const created = await t.api("POST", "/api/v1/batches", {
      agent_id: agentId,
      requests: [{ custom_id: "a", message: "one" }],
      context: { source: "news-aggregator" },
      metadata: { owner: "team-a" },
      webhook: { url: receiverUrl, events: ["completed"] },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    expect(created.body.data).toMatchObject({
      context: { source: "news-aggregator" },
      metadata: { owner: "team-a" },
    });
    const id = created.body.data.id;
    await waitForBatch(t, id);
    const event = await waitFor(() => received.find((e) => e.data?.id === id), {
      what: "the batch.completed event",
    });
    expect(event).toMatchObject({
      event: "batch.completed",
      data: { id, context: { source: "news-aggregator" }, metadata: { owner: "team-a" } },
    });
    expect((await t.api("GET", `/api/v1/batches/${id}`)).body.data.context).toEqual({
      source: "news-aggregator",
    });
  });

  it("takes a batch's context on a file batch too", async () => {
    const form = new FormData();
    form.append("purpose", "batch_input");
    form.append("file", new Blob(["custom_id,message\nr1,hello\n"], { type: "text/csv" }), "in.csv");
    const up = await fetch(`${t.url}/api/v1/files`, {
      method: "POST",
      headers: { "x-api-key": t.key },
      body: form,
    });
    const file = (await up.json()).data;
    const created = await t.api("POST", "/api/v1/batches", {
      agent_id: agentId,
      file_id: file.id,
      context: { k: 1 },
    });
    expect(created.status, JSON.stringify(created.body)).toBeLessThan(300);
    expect(created.body.data.context).toEqual({ k: 1 });
  });

  it("refuses unknown fields and oversized or deeply nested objects, naming the field", async () => {
    const base = { agent_id: agentId, requests: [{ custom_id: "a", message: "one" }] };
    expectBadRequest(
      await t.api("POST", "/api/v1/batches", {
        ...base,
        requests: [{ custom_id: "a", message: "m", mesage: "typo" }],
      }),
      "requests[0].mesage is not a known field",
    );
    expectBadRequest(
      await t.api("POST", "/api/v1/batches", { ...base, priority: 1 }),
      "priority is not a known field",
    );
    const big = { text: "x".repeat(20_000) };
    expectBadRequest(
      await t.api("POST", "/api/v1/batches", {
        ...base,
        requests: [{ custom_id: "a", message: "m", metadata: big }],
      }),
      "requests[0].metadata:",
    );
    let deep: any = { leaf: true };
    for (let i = 0; i < 20; i++) deep = { deep };
    expectBadRequest(await t.api("POST", "/api/v1/batches", { ...base, context: deep }), "context: nested");
  });
});

describe("state changes (seed 004)", () => {
  it("answers 409 for resume of a running or ended batch; pause of a paused batch changes nothing", async () => {
    const slow = await publishedAgent(t, { model: "simulated/echo?latency_ms=1500" });
    const created = await t.api("POST", "/api/v1/batches", {
      agent_id: slow,
      requests: [{ custom_id: "a", message: "one" }],
    });
    const id = created.body.data.id;
    const resumeRunning = await t.api("POST", `/api/v1/batches/${id}/resume`);
    expect(resumeRunning.status).toBe(409);
    expect(resumeRunning.body).toMatchObject({ error_code: 10009 });
    expect(resumeRunning.body.message).toContain("only a paused batch can be resumed");
    expect((await t.api("POST", `/api/v1/batches/${id}/pause`)).status).toBe(200);
    const again = await t.api("POST", `/api/v1/batches/${id}/pause`);
    expect(again.status).toBe(200);
    expect(again.body.data.status).toBe("paused");
    expect((await t.api("POST", `/api/v1/batches/${id}/resume`)).body.data.status).toBe("in_progress");
    await waitForBatch(t, id);
    const resumeEnded = await t.api("POST", `/api/v1/batches/${id}/resume`);
    expect([resumeEnded.status, resumeEnded.body.error_code]).toEqual([409, 10009]);
  });
});

describe("chat messages", () => {
  it("pages a chat's messages oldest first with seed 001's pagination", async () => {
    const chat = (await t.api("POST", "/api/v1/chats", { agent_id: agentId, name: "paged" })).body.data;
    for (const m of ["one", "two", "three"]) {
      const sent = await t.api("POST", `/api/v1/chats/${chat.id}/messages`, { message: m, stream: false });
      expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    }
    const first = await t.api("GET", `/api/v1/chats/${chat.id}/messages?limit=4`);
    expect(first.body.pagination).toMatchObject({ limit: 4, offset: 0, total_records: 6, total_pages: 2 });
    expect(first.body.data.map((m: any) => m.role)).toEqual(["user", "assistant", "user", "assistant"]);
    expect(first.body.data[0].content).toBe("one");
    const second = await t.api("GET", `/api/v1/chats/${chat.id}/messages?limit=4&offset=4`);
    expect(second.body.data.map((m: any) => m.content)).toEqual(["three", expect.stringContaining("three")]);
    expect(second.body.pagination.next_page).toBeNull();
  });
});
