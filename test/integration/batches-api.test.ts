/**
 * Acceptance tests of the Codeer Batch API (seed 000) over HTTP: validation, pagination, status
 * filters, cancel, per-request agents, chat continuation, workspace isolation, the agents API,
 * the service endpoints, retries and the completion window. Each `describe` starts the real
 * server on an ephemeral port with the settings it needs.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, type Service, startService } from "../../src/service.js";
import {
  publishedAgent,
  startTestServer,
  type TestServer,
  waitFor,
  waitForBatch,
} from "../helpers/server.js";

type Api = Awaited<ReturnType<TestServer["api"]>>;

/** A 400 / 10006 whose message names the field path. */
function expectBadRequest(res: Api, field: string): void {
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  expect(res.body).toMatchObject({ data: null, error_code: 10006 });
  expect(typeof res.body.message).toBe("string");
  // The message starts with the field path (`requests[3].custom_id is required`, `agent_id: ...`).
  expect(res.body.message.startsWith(field), `"${res.body.message}" should name ${field}`).toBe(true);
}

/** `n` simple requests `req-0..`. */
function reqs(n: number, extra: Record<string, unknown> = {}): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => ({ custom_id: `req-${i}`, message: `Question ${i}`, ...extra }));
}

/** Creates a batch and returns its wire object (fails the test unless the answer is 202). */
async function createBatch(t: TestServer, body: Record<string, unknown>, key?: string): Promise<any> {
  const res = await t.api("POST", "/api/v1/batches", body, key);
  if (res.status !== 202) throw new Error(`batch create failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.data;
}

/** Every result of a batch (pages of 1000). */
async function allResults(t: TestServer, batchId: string, key?: string): Promise<any[]> {
  const out: any[] = [];
  for (let offset = 0; ; offset += 1000) {
    const res = await t.api(
      "GET",
      `/api/v1/batches/${batchId}/results?limit=1000&offset=${offset}`,
      undefined,
      key,
    );
    expect(res.status).toBe(200);
    out.push(...res.body.data);
    if (!res.body.pagination.next_page) return out;
  }
}

describe("POST /api/v1/batches validation", () => {
  let t: TestServer;
  let agentId: string;
  let draftAgentId: string;

  beforeAll(async () => {
    t = await startTestServer();
    agentId = await publishedAgent(t);
    const draft = await t.api("POST", "/api/v1/agents", { name: "draft", model: "simulated/echo" });
    expect(draft.status).toBe(201);
    draftAgentId = draft.body.data.id;
  });
  afterAll(async () => t.close());

  it("rejects a body without requests", async () => {
    expectBadRequest(await t.api("POST", "/api/v1/batches", { agent_id: agentId }), "requests");
  });

  it("rejects a body without agent_id, or with requests that is not an array", async () => {
    expectBadRequest(await t.api("POST", "/api/v1/batches", { requests: reqs(1) }), "agent_id");
    expectBadRequest(
      await t.api("POST", "/api/v1/batches", {
        agent_id: agentId,
        requests: { custom_id: "a", message: "b" },
      }),
      "requests",
    );
  });

  it("rejects an empty requests array", async () => {
    expectBadRequest(await t.api("POST", "/api/v1/batches", { agent_id: agentId, requests: [] }), "requests");
  });

  it("rejects 1001 requests", async () => {
    expectBadRequest(
      await t.api("POST", "/api/v1/batches", { agent_id: agentId, requests: reqs(1001) }),
      "requests",
    );
  });

  it("accepts exactly 1000 requests", async () => {
    const res = await t.api("POST", "/api/v1/batches", { agent_id: agentId, requests: reqs(1000) });
    expect(res.status).toBe(202);
    expect(res.body.data.total_requests).toBe(1000);
  });

  it("rejects a request without custom_id, naming requests[3].custom_id", async () => {
    const requests = reqs(5);
    delete requests[3].custom_id;
    expectBadRequest(
      await t.api("POST", "/api/v1/batches", { agent_id: agentId, requests }),
      "requests[3].custom_id",
    );
  });

  it("rejects a custom_id longer than 256 characters", async () => {
    const requests = reqs(2);
    requests[1].custom_id = "x".repeat(257);
    expectBadRequest(
      await t.api("POST", "/api/v1/batches", { agent_id: agentId, requests }),
      "requests[1].custom_id",
    );
    requests[1].custom_id = "x".repeat(256);
    expect((await t.api("POST", "/api/v1/batches", { agent_id: agentId, requests })).status).toBe(202);
  });

  it("rejects a duplicate custom_id, naming the second occurrence", async () => {
    const requests = reqs(4);
    requests[2].custom_id = "req-0";
    const res = await t.api("POST", "/api/v1/batches", { agent_id: agentId, requests });
    expectBadRequest(res, "requests[2].custom_id");
  });

  it("rejects a request without message, naming requests[2].message", async () => {
    const requests = reqs(3);
    delete requests[2].message;
    expectBadRequest(
      await t.api("POST", "/api/v1/batches", { agent_id: agentId, requests }),
      "requests[2].message",
    );
  });

  it("rejects a message that is a number instead of coercing it", async () => {
    const requests = reqs(2);
    requests[1].message = 42;
    expectBadRequest(
      await t.api("POST", "/api/v1/batches", { agent_id: agentId, requests }),
      "requests[1].message",
    );
  });

  it("rejects a batch name longer than 256 characters", async () => {
    expectBadRequest(
      await t.api("POST", "/api/v1/batches", { agent_id: agentId, name: "n".repeat(257), requests: reqs(1) }),
      "name",
    );
  });

  it("rejects a request name longer than 256 characters, naming requests[1].name", async () => {
    const requests = reqs(2);
    requests[1].name = "n".repeat(257);
    expectBadRequest(
      await t.api("POST", "/api/v1/batches", { agent_id: agentId, requests }),
      "requests[1].name",
    );
  });

  it("rejects an unknown default agent_id", async () => {
    expectBadRequest(
      await t.api("POST", "/api/v1/batches", { agent_id: crypto.randomUUID(), requests: reqs(1) }),
      "agent_id",
    );
  });

  it("rejects an unpublished default agent", async () => {
    const res = await t.api("POST", "/api/v1/batches", { agent_id: draftAgentId, requests: reqs(1) });
    expectBadRequest(res, "agent_id");
    expect(res.body.message).toMatch(/publish/);
  });

  it("rejects an unknown per-request agent_id, naming requests[i].agent_id", async () => {
    const requests = reqs(3);
    requests[1].agent_id = crypto.randomUUID();
    expectBadRequest(
      await t.api("POST", "/api/v1/batches", { agent_id: agentId, requests }),
      "requests[1].agent_id",
    );
  });

  it("rejects an unpublished per-request agent, naming requests[i].agent_id", async () => {
    const requests = reqs(3);
    requests[2].agent_id = draftAgentId;
    expectBadRequest(
      await t.api("POST", "/api/v1/batches", { agent_id: agentId, requests }),
      "requests[2].agent_id",
    );
  });

  it("accepts an http webhook URL when http webhooks are allowed", async () => {
    const res = await t.api("POST", "/api/v1/batches", {
      agent_id: agentId,
      requests: reqs(1),
      webhook: { url: "http://127.0.0.1:9/hook" },
    });
    expect(res.status).toBe(202);
    expect(res.body.data.webhook).toMatchObject({ events: ["completed", "failed"], has_secret: false });
  });

  it("rejects a webhook event that is not completed, failed or cancelled", async () => {
    expectBadRequest(
      await t.api("POST", "/api/v1/batches", {
        agent_id: agentId,
        requests: reqs(1),
        webhook: { url: "https://example.com/hook", events: ["completed", "exploded"] },
      }),
      "webhook.events",
    );
  });

  it("rejects a webhook secret longer than 255 characters", async () => {
    const body = {
      agent_id: agentId,
      requests: reqs(1),
      webhook: { url: "https://example.com/hook", secret: "s".repeat(256) },
    };
    expectBadRequest(await t.api("POST", "/api/v1/batches", body), "webhook.secret");
    body.webhook.secret = "s".repeat(255);
    const ok = await t.api("POST", "/api/v1/batches", body);
    expect(ok.status).toBe(202);
    expect(ok.body.data.webhook.has_secret).toBe(true);
  });

  it("rejects a history_id of a chat that does not exist", async () => {
    const requests = reqs(2);
    requests[1].history_id = 987654;
    expectBadRequest(
      await t.api("POST", "/api/v1/batches", { agent_id: agentId, requests }),
      "requests[1].history_id",
    );
  });

  it("answers a malformed JSON body with 400 / 10006", async () => {
    const res = await t.api("POST", "/api/v1/batches", '{"agent_id": "x", "requests": [');
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ data: null, error_code: 10006 });
  });

  it("answers a body that is not JSON with a 4xx", async () => {
    const res = await fetch(`${t.url}/api/v1/batches`, {
      method: "POST",
      headers: { "x-api-key": t.key, "content-type": "text/plain" },
      body: JSON.stringify({ agent_id: agentId, requests: reqs(1) }),
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    const body = await res.json();
    expect(body).toMatchObject({ data: null, error_code: 10006 });
  });

  it("answers a request without API key with 400 / 10001", async () => {
    const res = await fetch(`${t.url}/api/v1/batches`);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ data: null, error_code: 10001 });
  });

  it("answers a wrong API key with 400 / 10001", async () => {
    const res = await t.api("GET", "/api/v1/batches", undefined, "ab_not-a-key");
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ data: null, error_code: 10001 });
    const bearer = await fetch(`${t.url}/api/v1/batches`, { headers: { authorization: "Bearer ab_nope" } });
    expect(bearer.status).toBe(400);
    expect((await bearer.json()).error_code).toBe(10001);
  });

  it("accepts the key as Authorization: Bearer", async () => {
    const res = await fetch(`${t.url}/api/v1/batches`, { headers: { authorization: `Bearer ${t.key}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ error_code: 0, message: null });
    const created = await fetch(`${t.url}/api/v1/batches`, {
      method: "POST",
      headers: { authorization: `Bearer ${t.key}`, "content-type": "application/json" },
      body: JSON.stringify({ agent_id: agentId, requests: reqs(1) }),
    });
    expect(created.status).toBe(202);
  });
});

describe("webhook and body-size settings", () => {
  /** http webhooks off and a small body limit (one server for both, to save a start-up). */
  let strict: TestServer;
  beforeAll(async () => {
    strict = await startTestServer((c) => {
      c.webhooks.allowHttp = false;
      c.bodyLimitBytes = 2048;
    });
  });
  afterAll(async () => strict.close());

  it("rejects a webhook URL that is not https when http webhooks are off", async () => {
    const agentId = await publishedAgent(strict);
    const body = { agent_id: agentId, requests: reqs(1), webhook: { url: "http://example.com/hook" } };
    expectBadRequest(await strict.api("POST", "/api/v1/batches", body), "webhook.url");
    body.webhook.url = "https://example.com/hook";
    expect((await strict.api("POST", "/api/v1/batches", body)).status).toBe(202);
  });

  it("answers a body over the limit with 413", async () => {
    const agentId = await publishedAgent(strict);
    const res = await strict.api("POST", "/api/v1/batches", { agent_id: agentId, requests: reqs(200) });
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ data: null, error_code: 10006 });
    expect(
      (await strict.api("POST", "/api/v1/batches", { agent_id: agentId, requests: reqs(2) })).status,
    ).toBe(202);
  });
});

describe("pagination, status filters, history, isolation on one server", () => {
  let t: TestServer;
  let agentId: string;
  beforeAll(async () => {
    t = await startTestServer();
    agentId = await publishedAgent(t);
  });
  afterAll(async () => t.close());

  it("paginates GET /batches with absolute next/prev links", async () => {
    const key = await t.newWorkspaceKey("pages");
    const agent = await publishedAgent(t, {}, key);
    for (let i = 0; i < 7; i++) await createBatch(t, { agent_id: agent, requests: reqs(1) }, key);
    const base = `${t.url}/api/v1/batches`;

    const p1 = await t.api("GET", "/api/v1/batches?limit=3", undefined, key);
    expect(p1.status).toBe(200);
    expect(p1.body.data).toHaveLength(3);
    expect(p1.body.pagination).toEqual({
      limit: 3,
      offset: 0,
      total_records: 7,
      total_pages: 3,
      current_page: 1,
      next_page: `${base}?offset=3&limit=3`,
      prev_page: null,
    });
    const p2 = await t.api("GET", "/api/v1/batches?limit=3&offset=3", undefined, key);
    expect(p2.body.data).toHaveLength(3);
    expect(p2.body.pagination).toMatchObject({
      offset: 3,
      current_page: 2,
      next_page: `${base}?offset=6&limit=3`,
      prev_page: `${base}?offset=0&limit=3`,
    });
    const p3 = await t.api("GET", "/api/v1/batches?limit=3&offset=6", undefined, key);
    expect(p3.body.data).toHaveLength(1);
    expect(p3.body.pagination).toMatchObject({
      offset: 6,
      current_page: 3,
      next_page: null,
      prev_page: `${base}?offset=3&limit=3`,
    });
    // Pages cover every batch exactly once.
    const ids = [...p1.body.data, ...p2.body.data, ...p3.body.data].map((b: any) => b.id);
    expect(new Set(ids).size).toBe(7);

    // The links work as given.
    const next = await fetch(p1.body.pagination.next_page, { headers: { "x-api-key": key } });
    expect((await next.json()).data.map((b: any) => b.id)).toEqual(p2.body.data.map((b: any) => b.id));

    const all = await t.api("GET", "/api/v1/batches", undefined, key);
    expect(all.body.pagination).toMatchObject({ limit: 50, offset: 0, total_records: 7, total_pages: 1 });
    expect(all.body.pagination.next_page).toBeNull();
    expect(all.body.data).toHaveLength(7);

    expectBadRequest(await t.api("GET", "/api/v1/batches?limit=1001", undefined, key), "limit");
    expectBadRequest(await t.api("GET", "/api/v1/batches?limit=0", undefined, key), "limit");
    expectBadRequest(await t.api("GET", "/api/v1/batches?offset=-1", undefined, key), "offset");
  });

  it("paginates GET /batches/{id}/results the same way, in submission order", async () => {
    const batch = await createBatch(t, { agent_id: agentId, requests: reqs(7) });
    await waitForBatch(t, batch.id);
    const base = `${t.url}/api/v1/batches/${batch.id}/results`;
    const p1 = await t.api("GET", `/api/v1/batches/${batch.id}/results?limit=3`);
    expect(p1.body.pagination).toEqual({
      limit: 3,
      offset: 0,
      total_records: 7,
      total_pages: 3,
      current_page: 1,
      next_page: `${base}?offset=3&limit=3`,
      prev_page: null,
    });
    expect(p1.body.data.map((r: any) => r.custom_id)).toEqual(["req-0", "req-1", "req-2"]);
    const p2 = await t.api("GET", `/api/v1/batches/${batch.id}/results?limit=3&offset=3`);
    expect(p2.body.pagination).toMatchObject({
      current_page: 2,
      next_page: `${base}?offset=6&limit=3`,
      prev_page: `${base}?offset=0&limit=3`,
    });
    expect(p2.body.data.map((r: any) => r.custom_id)).toEqual(["req-3", "req-4", "req-5"]);
    const p3 = await t.api("GET", `/api/v1/batches/${batch.id}/results?limit=3&offset=6`);
    expect(p3.body.pagination).toMatchObject({ current_page: 3, next_page: null });
    expect(p3.body.data.map((r: any) => r.custom_id)).toEqual(["req-6"]);
    const def = await t.api("GET", `/api/v1/batches/${batch.id}/results`);
    expect(def.body.pagination).toMatchObject({ limit: 50, total_records: 7, total_pages: 1 });
    expectBadRequest(await t.api("GET", `/api/v1/batches/${batch.id}/results?limit=1001`), "limit");
  });

  it("filters GET /batches by status, one or a comma list", async () => {
    const key = await t.newWorkspaceKey("filters");
    const echo = await publishedAgent(t, {}, key);
    // Fails with 500 and waits >= 500 ms between attempts (default backoff): stays in_progress.
    const flaky = await publishedAgent(t, { model: "simulated/echo?error_rate=1&fail_status=500" }, key);
    const done1 = await createBatch(t, { agent_id: echo, requests: reqs(2) }, key);
    const done2 = await createBatch(t, { agent_id: echo, requests: reqs(2) }, key);
    const running = await createBatch(t, { agent_id: flaky, requests: reqs(2) }, key);
    const toCancel = await createBatch(t, { agent_id: flaky, requests: reqs(2) }, key);
    await waitForBatch(t, done1.id, key);
    await waitForBatch(t, done2.id, key);
    expect((await t.api("POST", `/api/v1/batches/${toCancel.id}/cancel`, undefined, key)).status).toBe(202);
    expect((await waitForBatch(t, toCancel.id, key)).status).toBe("cancelled");

    const ids = async (query: string) => {
      const res = await t.api("GET", `/api/v1/batches?${query}`, undefined, key);
      expect(res.status).toBe(200);
      expect(res.body.pagination.total_records).toBe(res.body.data.length);
      return res.body.data.map((b: any) => b.id).sort();
    };
    expect(await ids("status=completed")).toEqual([done1.id, done2.id].sort());
    expect(await ids("status=cancelled")).toEqual([toCancel.id]);
    expect(await ids("status=in_progress")).toEqual([running.id]);
    expect(await ids("status=in_progress,cancelled")).toEqual([running.id, toCancel.id].sort());
    expect(await ids("status=failed")).toEqual([]);
    const filtered = await t.api("GET", "/api/v1/batches?status=completed&limit=1", undefined, key);
    expect(filtered.body.pagination.next_page).toBe(
      `${t.url}/api/v1/batches?offset=1&limit=1&status=completed`,
    );
    expectBadRequest(await t.api("GET", "/api/v1/batches?status=finished", undefined, key), "status");

    await t.api("POST", `/api/v1/batches/${running.id}/cancel`, undefined, key);
  });

  it("filters GET /batches/{id}/results by success, failed and pending", async () => {
    const fail400 = await publishedAgent(t, { model: "simulated/fail-400" });
    const flaky = await publishedAgent(t, { model: "simulated/echo?error_rate=1&fail_status=500" });
    const batch = await createBatch(t, {
      agent_id: agentId,
      requests: [
        { custom_id: "ok-1", message: "one" },
        { custom_id: "bad-1", message: "two", agent_id: fail400 },
        { custom_id: "later-1", message: "three", agent_id: flaky },
        { custom_id: "ok-2", message: "four" },
      ],
    });
    /** One page of results of a status; its total and its rows come from one snapshot. */
    const query = async (status: string) => {
      const res = await t.api("GET", `/api/v1/batches/${batch.id}/results?status=${status}`);
      expect(res.status).toBe(200);
      expect(res.body.pagination.total_records).toBe(res.body.data.length);
      for (const r of res.body.data) expect(r.status).toBe(status);
      return res.body.data.map((r: any) => r.custom_id);
    };
    const count = async (status: string) =>
      (await t.api("GET", `/api/v1/batches/${batch.id}/results?status=${status}`)).body.data?.length;
    await waitFor(async () => (await count("success")) === 2 && (await count("failed")) === 1, {
      what: "two successes and one failure",
    });
    expect(await query("success")).toEqual(["ok-1", "ok-2"]);
    expect(await query("failed")).toEqual(["bad-1"]);
    // The flaky item waits between attempts as pending (it may briefly be processing while it runs).
    const pending = await waitFor(
      async () => {
        const res = await t.api("GET", `/api/v1/batches/${batch.id}/results?status=pending`);
        return res.body.data?.map((r: any) => r.custom_id).join() === "later-1" ? res : null;
      },
      { what: "later-1 pending" },
    );
    expect(pending.body.pagination.total_records).toBe(1);
    expect(pending.body.data[0]).toMatchObject({
      response_content: null,
      error_code: null,
      processed_at: null,
    });
    expectBadRequest(await t.api("GET", `/api/v1/batches/${batch.id}/results?status=done`), "status");
    await t.api("POST", `/api/v1/batches/${batch.id}/cancel`);
  });

  it("runs each request on its own agent when agent_id is overridden", async () => {
    const alpha = await publishedAgent(t, {
      name: "alpha",
      model: "simulated/alpha",
      system_prompt: "Be alpha.",
    });
    const beta = await publishedAgent(t, {
      name: "beta",
      model: "simulated/beta",
      system_prompt: "Be beta. ".repeat(40),
    });
    const batch = await createBatch(t, {
      agent_id: alpha,
      requests: [
        { custom_id: "a", message: "hello" },
        { custom_id: "b", message: "hello", agent_id: beta },
        { custom_id: "c", message: "hello", agent_id: null },
      ],
    });
    expect(batch.agent_id).toBe(alpha);
    const done = await waitForBatch(t, batch.id);
    expect(done).toMatchObject({ status: "completed", completed_requests: 3, failed_requests: 0 });
    const results = await allResults(t, batch.id);
    const byId = Object.fromEntries(results.map((r) => [r.custom_id, r]));
    expect(byId.a.agent_id).toBe(alpha);
    expect(byId.b.agent_id).toBe(beta);
    expect(byId.c.agent_id).toBe(alpha);
    expect(byId.a.response_usage.tool_calls[0].model).toBe("alpha");
    expect(byId.b.response_usage.tool_calls[0].model).toBe("beta");
    expect(byId.c.response_usage.tool_calls[0].model).toBe("alpha");
    for (const r of results) expect(r.response_content).toBe("Echo: hello");
    // Beta's long system prompt reached the model: it costs more prompt tokens.
    expect(byId.b.response_usage.total_prompt_tokens).toBeGreaterThan(
      byId.a.response_usage.total_prompt_tokens + 50,
    );
  });

  it("continues a chat with history_id and records the turns", async () => {
    const first = await createBatch(t, {
      agent_id: agentId,
      requests: [{ custom_id: "turn-1", message: "My name is Ada", name: "ada chat" }],
    });
    await waitForBatch(t, first.id);
    const [r1] = await allResults(t, first.id);
    expect(r1).toMatchObject({ status: "success", response_content: "Echo: My name is Ada" });
    const chatId = r1.history_id;
    expect(typeof chatId).toBe("number");

    const second = await createBatch(t, {
      agent_id: agentId,
      requests: [{ custom_id: "turn-2", message: "What is my name?", history_id: chatId }],
    });
    await waitForBatch(t, second.id);
    const [r2] = await allResults(t, second.id);
    expect(r2.status).toBe("success");
    expect(r2.response_content).toBe("Echo: What is my name? (context: 2 earlier messages)");
    expect(r2.history_id).toBe(chatId);
    expect(r2.conversation_id).not.toBe(r1.conversation_id);

    const messages = await t.api("GET", `/api/v1/chats/${chatId}/messages`);
    expect(messages.status).toBe(200);
    const m = messages.body.data;
    expect(m.map((x: any) => [x.role, x.content])).toEqual([
      ["user", "My name is Ada"],
      ["assistant", "Echo: My name is Ada"],
      ["user", "What is my name?"],
      ["assistant", "Echo: What is my name? (context: 2 earlier messages)"],
    ]);
    expect(m[0].group_id).toBe(m[0].id);
    expect(m[1].group_id).toBe(m[0].id);
    expect(m[2].group_id).toBe(m[2].id);
    expect(m[3].group_id).toBe(m[2].id);
    expect(r1.conversation_id).toBe(m[0].group_id);
    expect(r2.conversation_id).toBe(m[2].group_id);
    const ids = m.map((x: any) => x.id);
    expect([...ids].sort((a: number, b: number) => a - b)).toEqual(ids);
  });

  it("keeps workspaces apart", async () => {
    const batch = await createBatch(t, { agent_id: agentId, requests: reqs(2) });
    await waitForBatch(t, batch.id);
    const other = await t.newWorkspaceKey("other");
    const notFound = (res: Api) => {
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ data: null, error_code: 10003 });
    };
    notFound(await t.api("GET", `/api/v1/batches/${batch.id}`, undefined, other));
    notFound(await t.api("GET", `/api/v1/batches/${batch.id}/results`, undefined, other));
    notFound(await t.api("POST", `/api/v1/batches/${batch.id}/cancel`, undefined, other));
    notFound(await t.api("GET", `/api/v1/agents/${agentId}`, undefined, other));
    notFound(await t.api("PATCH", `/api/v1/agents/${agentId}`, { name: "stolen" }, other));
    notFound(await t.api("POST", `/api/v1/agents/${agentId}/publish`, undefined, other));
    notFound(
      await t.api(
        "GET",
        `/api/v1/chats/${(await allResults(t, batch.id))[0].history_id}/messages`,
        undefined,
        other,
      ),
    );
    const list = await t.api("GET", "/api/v1/batches", undefined, other);
    expect(list.status).toBe(200);
    expect(list.body.data).toEqual([]);
    expect(list.body.pagination.total_records).toBe(0);
    const agents = await t.api("GET", "/api/v1/agents", undefined, other);
    expect(agents.body.data).toEqual([]);
    const published = await t.api("GET", "/api/v1/chats/published-agents", undefined, other);
    expect(published.body.data).toEqual([]);
    expectBadRequest(
      await t.api("POST", "/api/v1/batches", { agent_id: agentId, requests: reqs(1) }, other),
      "agent_id",
    );
    const own = await publishedAgent(t, {}, other);
    const requests = reqs(2);
    requests[1].agent_id = agentId;
    expectBadRequest(
      await t.api("POST", "/api/v1/batches", { agent_id: own, requests }, other),
      "requests[1].agent_id",
    );
    const ownBatch = await createBatch(t, { agent_id: own, requests: reqs(1) }, other);
    expect((await waitForBatch(t, ownBatch.id, other)).status).toBe("completed");
    const theirChat = (await allResults(t, batch.id))[0].history_id;
    expectBadRequest(
      await t.api(
        "POST",
        "/api/v1/batches",
        { agent_id: own, requests: [{ custom_id: "x", message: "hi", history_id: theirChat }] },
        other,
      ),
      "requests[0].history_id",
    );
    // The owner still sees its batch unchanged, and not the other workspace's.
    expect((await t.api("GET", `/api/v1/batches/${batch.id}`)).body.data.status).toBe("completed");
    expect((await t.api("GET", `/api/v1/batches/${ownBatch.id}`)).status).toBe(404);
  });

  it("refuses to cancel a completed batch (409) and an unknown one (404)", async () => {
    const batch = await createBatch(t, { agent_id: agentId, requests: reqs(1) });
    await waitForBatch(t, batch.id);
    const res = await t.api("POST", `/api/v1/batches/${batch.id}/cancel`);
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ data: null, error_code: 10009 });
    const unknown = await t.api("POST", `/api/v1/batches/${crypto.randomUUID()}/cancel`);
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ data: null, error_code: 10003 });
    const get = await t.api("GET", `/api/v1/batches/${crypto.randomUUID()}`);
    expect(get.status).toBe(404);
    expect(get.body.error_code).toBe(10003);
  });
});

describe("cancel with requests in flight", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer((c) => {
      c.engine.concurrency = 2;
    });
  });
  afterAll(async () => t.close());

  it("fails pending requests with 499 at once, lets in-flight ones finish, ends cancelled", async () => {
    const agentId = await publishedAgent(t, { model: "simulated/echo?latency_ms=1500" });
    const batch = await createBatch(t, { agent_id: agentId, requests: reqs(10) });
    await waitFor(
      async () => (await t.api("GET", `/api/v1/batches/${batch.id}`)).body.data.processing_requests === 2,
      { what: "two requests in flight" },
    );
    const cancel = await t.api("POST", `/api/v1/batches/${batch.id}/cancel`);
    expect(cancel.status).toBe(202);
    expect(cancel.body).toMatchObject({
      error_code: 0,
      message: null,
      data: {
        id: batch.id,
        status: "cancelling",
        total_requests: 10,
        completed_requests: 0,
        failed_requests: 8,
        pending_requests: 0,
        processing_requests: 2,
        cancelled_at: null,
        completed_at: null,
      },
    });

    // Right after the cancel: the eight pending requests already failed with 499.
    const failed = await t.api("GET", `/api/v1/batches/${batch.id}/results?status=failed&limit=100`);
    expect(failed.body.data).toHaveLength(8);
    for (const r of failed.body.data) {
      expect(r).toMatchObject({ status: "failed", error_code: 499, response_content: null });
      expect(typeof r.error_message).toBe("string");
      expect(r.processed_at).not.toBeNull();
    }
    const processing = await t.api("GET", `/api/v1/batches/${batch.id}/results?status=processing`);
    expect(processing.body.data).toHaveLength(2);

    // Cancelling again changes nothing.
    const again = await t.api("POST", `/api/v1/batches/${batch.id}/cancel`);
    expect(again.status).toBe(202);
    expect(again.body.data).toMatchObject({
      status: "cancelling",
      failed_requests: 8,
      completed_requests: 0,
    });

    const done = await waitForBatch(t, batch.id);
    expect(done).toMatchObject({
      status: "cancelled",
      total_requests: 10,
      completed_requests: 2,
      failed_requests: 8,
      completed_at: null,
    });
    expect(done.cancelled_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    const results = await allResults(t, batch.id);
    const success = results.filter((r) => r.status === "success");
    expect(success.map((r) => r.custom_id).sort()).toEqual(
      processing.body.data.map((r: any) => r.custom_id).sort(),
    );
    for (const r of success) expect(r.response_content).toMatch(/^Echo: Question \d$/);

    const third = await t.api("POST", `/api/v1/batches/${batch.id}/cancel`);
    expect(third.status).toBe(202);
    expect(third.body.data).toEqual(done);
  });
});

describe("agents API", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(() => {}, { worker: false });
  });
  afterAll(async () => t.close());

  it("creates, gets, lists, patches and publishes agents", async () => {
    const created = await t.api("POST", "/api/v1/agents", {
      name: "support",
      model: "simulated/echo",
      system_prompt: "Be brief.",
      temperature: 0.2,
    });
    expect(created.status).toBe(201);
    const agent = created.body.data;
    expect(agent).toMatchObject({
      name: "support",
      model: "simulated/echo",
      system_prompt: "Be brief.",
      temperature: 0.2,
      publish_state: "draft",
      published_version: null,
    });
    expect(typeof agent.id).toBe("string");

    const got = await t.api("GET", `/api/v1/agents/${agent.id}`);
    expect(got.status).toBe(200);
    expect(got.body.data).toEqual(agent);
    expect((await t.api("GET", `/api/v1/agents/${crypto.randomUUID()}`)).status).toBe(404);

    const patched = await t.api("PATCH", `/api/v1/agents/${agent.id}`, { system_prompt: "Be kind." });
    expect(patched.status).toBe(200);
    expect(patched.body.data).toMatchObject({ name: "support", system_prompt: "Be kind." });
    expectBadRequest(await t.api("PATCH", `/api/v1/agents/${agent.id}`, { model: "nope" }), "model");

    const v1 = await t.api("POST", `/api/v1/agents/${agent.id}/publish`);
    expect(v1.status).toBe(200);
    expect(v1.body.data).toMatchObject({ publish_state: "published", published_version: 1 });
    const v2 = await t.api("POST", `/api/v1/agents/${agent.id}/publish`);
    expect(v2.body.data.published_version).toBe(2);

    for (let i = 0; i < 3; i++) {
      expect(
        (await t.api("POST", "/api/v1/agents", { name: `draft ${i}`, model: "simulated/echo" })).status,
      ).toBe(201);
    }
    const page = await t.api("GET", "/api/v1/agents?limit=2");
    expect(page.body.data).toHaveLength(2);
    expect(page.body.pagination).toMatchObject({
      limit: 2,
      offset: 0,
      total_records: 4,
      total_pages: 2,
      current_page: 1,
      next_page: `${t.url}/api/v1/agents?offset=2&limit=2`,
      prev_page: null,
    });
    const page2 = await t.api("GET", "/api/v1/agents?limit=2&offset=2");
    const all = [...page.body.data, ...page2.body.data].map((a: any) => a.id);
    expect(new Set(all).size).toBe(4);
    expect(all).toContain(agent.id);

    const published = await t.api("GET", "/api/v1/chats/published-agents");
    expect(published.status).toBe(200);
    expect(published.body.data.map((a: any) => a.id)).toEqual([agent.id]);
    expect(published.body.pagination.total_records).toBe(1);
  });

  it("rejects a model without provider and an unknown provider, naming model", async () => {
    expectBadRequest(await t.api("POST", "/api/v1/agents", { name: "x", model: "nope" }), "model");
    const unknown = await t.api("POST", "/api/v1/agents", { name: "x", model: "zzz/x" });
    expectBadRequest(unknown, "model");
    expect(unknown.body.message).toContain("zzz");
    expectBadRequest(await t.api("POST", "/api/v1/agents", { model: "simulated/echo" }), "name");
  });

  it("runs a batch on the version published when it was created", async () => {
    const created = await t.api("POST", "/api/v1/agents", {
      name: "versioned",
      model: "simulated/first",
      system_prompt: "short",
    });
    const id = created.body.data.id;
    expect((await t.api("POST", `/api/v1/agents/${id}/publish`)).body.data.published_version).toBe(1);
    // No worker runs yet: both batches wait until after the re-publish.
    const before = await createBatch(t, { agent_id: id, requests: reqs(3) });
    await t.api("PATCH", `/api/v1/agents/${id}`, {
      model: "simulated/second",
      system_prompt: "a much longer system prompt ".repeat(20),
    });
    expect((await t.api("POST", `/api/v1/agents/${id}/publish`)).body.data.published_version).toBe(2);
    const after = await createBatch(t, { agent_id: id, requests: reqs(3) });

    let worker: Service | undefined;
    try {
      worker = await startService(t.service.config, {
        api: false,
        worker: true,
        logger: createLogger("silent"),
      });
      await waitForBatch(t, before.id);
      await waitForBatch(t, after.id);
    } finally {
      await worker?.close(2000);
    }
    const r1 = await allResults(t, before.id);
    const r2 = await allResults(t, after.id);
    expect(r1.map((r) => r.status)).toEqual(["success", "success", "success"]);
    expect(r2.map((r) => r.status)).toEqual(["success", "success", "success"]);
    for (const r of r1) expect(r.response_usage.tool_calls[0].model).toBe("first");
    for (const r of r2) expect(r.response_usage.tool_calls[0].model).toBe("second");
    expect(r2[0].response_usage.total_prompt_tokens).toBeGreaterThan(
      r1[0].response_usage.total_prompt_tokens,
    );
  });

  it("serves /healthz, /openapi.json and /docs", async () => {
    const health = await fetch(`${t.url}/healthz`);
    expect(health.status).toBe(200);
    const doc = await fetch(`${t.url}/openapi.json`);
    expect(doc.status).toBe(200);
    const spec = await doc.json();
    expect(spec.openapi).toMatch(/^3\./);
    expect(spec.paths).toHaveProperty("/api/v1/batches");
    expect(spec.paths["/api/v1/batches"]).toHaveProperty("post");
    expect(spec.paths).toHaveProperty(["/api/v1/batches/{id}/cancel"]);
    const docs = await fetch(`${t.url}/docs`, { redirect: "follow" });
    expect(docs.status).toBe(200);
    expect(await docs.text()).toMatch(/swagger/i);
  });
});

describe("retries", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer((c) => {
      c.engine.maxAttempts = 3;
      c.engine.retryBaseMs = 10;
      c.engine.retryMaxMs = 20;
    });
  });
  afterAll(async () => t.close());

  it("fails a request with 502 after the last retry of an upstream 503", async () => {
    const agentId = await publishedAgent(t, { model: "simulated/echo?error_rate=1&fail_status=503" });
    const batch = await createBatch(t, { agent_id: agentId, requests: reqs(3) });
    const done = await waitForBatch(t, batch.id);
    expect(done).toMatchObject({ status: "completed", completed_requests: 0, failed_requests: 3 });
    for (const r of await allResults(t, batch.id)) {
      expect(r).toMatchObject({ status: "failed", error_code: 502, attempts: 3, response_content: null });
    }
  });

  it("fails a 400 at once without retrying", async () => {
    const agentId = await publishedAgent(t, { model: "simulated/fail-400" });
    const batch = await createBatch(t, { agent_id: agentId, requests: reqs(2) });
    await waitForBatch(t, batch.id);
    for (const r of await allResults(t, batch.id)) {
      expect(r).toMatchObject({ status: "failed", error_code: 400, attempts: 1 });
    }
  });

  it("fails with 429 when still rate-limited after the last retry", async () => {
    const agentId = await publishedAgent(t, { model: "simulated/echo?error_rate=1&fail_status=429" });
    const batch = await createBatch(t, { agent_id: agentId, requests: reqs(1) });
    await waitForBatch(t, batch.id);
    const [r] = await allResults(t, batch.id);
    expect(r).toMatchObject({ status: "failed", error_code: 429, attempts: 3 });
  });
});

describe("completion window", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer((c) => {
      c.engine.completionWindowMs = 300;
      c.engine.concurrency = 1;
    });
  });
  afterAll(async () => t.close());

  it("fails requests still pending at expires_at with 408 and completes the batch", async () => {
    const agentId = await publishedAgent(t, { model: "simulated/echo?latency_ms=2000" });
    const batch = await createBatch(t, { agent_id: agentId, requests: reqs(3) });
    expect(Date.parse(batch.expires_at) - Date.parse(batch.created_at)).toBeLessThanOrEqual(1000);
    const done = await waitForBatch(t, batch.id);
    expect(done).toMatchObject({
      status: "completed",
      total_requests: 3,
      completed_requests: 1,
      failed_requests: 2,
    });
    const results = await allResults(t, batch.id);
    expect(results[0]).toMatchObject({ custom_id: "req-0", status: "success" });
    for (const r of results.slice(1)) expect(r).toMatchObject({ status: "failed", error_code: 408 });
  });
});
