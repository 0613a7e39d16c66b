/**
 * Batch control: pause/resume (no new item starts while paused, in-flight ones finish), 409 on
 * invalid transitions, the active list, retry of failed items only, the status map, one result
 * by custom_id, and idempotent creates (Idempotency-Key, client-chosen id).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  batchRequests,
  publishedAgent,
  startTestServer,
  type TestServer,
  waitForBatch,
  waitForProcessing,
} from "../helpers/server.js";
import { waitFor } from "../helpers/wait.js";

describe("pause, resume, retry", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer((c) => {
      c.engine.concurrency = 2;
      c.engine.claimBatchSize = 2;
      c.engine.maxAttempts = 1;
    });
  });
  afterAll(async () => t.close());

  it("pause stops new starts while in-flight items finish; resume runs the rest", async () => {
    const agent = await publishedAgent(t, { model: "simulated/echo?latency_ms=500" });
    const created = await t.api("POST", "/api/v1/batches", { agent_id: agent, requests: batchRequests(8) });
    expect(created.status).toBe(202);
    const id = created.body.data.id;
    // A model call has started (not only an item claimed ahead: a pause hands those back, and
    // then nothing would have finished while paused).
    await waitFor(() => (t.service.engine!.stats().running > 0 ? true : null), {
      what: "a model call to start",
    });

    const paused = await t.api("POST", `/api/v1/batches/${id}/pause`);
    expect(paused.status).toBe(200);
    expect(paused.body.data.status).toBe("paused");
    expect(paused.body.data.paused_at).toMatch(/^\d{4}-/);
    const again = await t.api("POST", `/api/v1/batches/${id}/pause`);
    expect(again.status).toBe(200);

    // In-flight items finish, then nothing more starts.
    const settled = await waitForProcessing(t, id, "none");
    expect(settled.status).toBe("paused");
    expect(settled.completed_requests).toBeGreaterThan(0);
    expect(settled.pending_requests).toBeGreaterThan(0);
    const doneWhilePaused = settled.completed_requests;
    // Give the engine several claim cycles: still nothing starts.
    await new Promise((r) => setTimeout(r, 700));
    const still = (await t.api("GET", `/api/v1/batches/${id}`)).body.data;
    expect(still.completed_requests).toBe(doneWhilePaused);
    expect(still.processing_requests).toBe(0);

    const active = await t.api("GET", "/api/v1/batches/active");
    expect(active.status).toBe(200);
    expect(active.body.data.map((b: any) => b.id)).toContain(id);
    const filtered = await t.api("GET", "/api/v1/batches?status=in_progress,paused");
    expect(filtered.body.data.map((b: any) => b.id)).toContain(id);

    const resumed = await t.api("POST", `/api/v1/batches/${id}/resume`);
    expect(resumed.status).toBe(200);
    expect(resumed.body.data.status).toBe("in_progress");
    expect(resumed.body.data.paused_at).toBeNull();
    const done = await waitForBatch(t, id);
    expect(done).toMatchObject({ status: "completed", completed_requests: 8, failed_requests: 0 });

    const late = await t.api("POST", `/api/v1/batches/${id}/pause`);
    expect(late.status).toBe(409);
    expect(late.body.error_code).toBe(10009);
    expect(late.body.message).toContain("completed");
    const resumeDone = await t.api("POST", `/api/v1/batches/${id}/resume`);
    expect(resumeDone.status).toBe(409);
    expect(resumeDone.body.message).toContain("completed");
    expect((await t.api("GET", "/api/v1/batches/active")).body.data.map((b: any) => b.id)).not.toContain(id);
    expect((await t.api("POST", "/api/v1/batches/nope/pause")).status).toBe(404);
  });

  it("retry re-runs only the failed items and keeps the successes", async () => {
    const agent = await publishedAgent(t, { model: "simulated/echo?error_rate=0.5" });
    const created = await t.api("POST", "/api/v1/batches", { agent_id: agent, requests: batchRequests(40) });
    const first = await waitForBatch(t, created.body.data.id);
    expect(first.failed_requests).toBeGreaterThan(0);
    expect(first.completed_requests).toBeGreaterThan(0);
    const id = first.id;
    const before = new Map<string, any>(
      (await t.api("GET", `/api/v1/batches/${id}/results?limit=100`)).body.data.map((r: any) => [
        r.custom_id,
        r,
      ]),
    );

    const retried = await t.api("POST", `/api/v1/batches/${id}/retry`);
    expect(retried.status).toBe(202);
    expect(retried.body.data.status).toBe("in_progress");
    expect(retried.body.data.completed_at).toBeNull();
    expect(retried.body.data.failed_requests).toBe(0);
    expect(retried.body.data.pending_requests + retried.body.data.processing_requests).toBe(
      first.failed_requests,
    );
    expect(retried.body.data.completed_requests).toBe(first.completed_requests);
    const second = await waitForBatch(t, id);
    expect(second.completed_requests).toBeGreaterThan(first.completed_requests);
    expect(second.completed_requests + second.failed_requests).toBe(40);

    const after = (await t.api("GET", `/api/v1/batches/${id}/results?limit=100`)).body.data;
    for (const r of after) {
      const old = before.get(r.custom_id);
      if (old.status === "success") {
        // Successes are untouched: same answer, same chat, same time.
        expect(r).toEqual(old);
      } else {
        expect(r.attempts).toBe(1);
        expect(r.processed_at >= old.processed_at).toBe(true);
      }
    }
    // Usage equals the sum over the successful items, counted once.
    const sum = after
      .filter((r: any) => r.status === "success")
      .reduce((s: number, r: any) => s + r.response_usage.total_tokens, 0);
    expect(second.usage.total_tokens).toBe(sum);

    if (second.failed_requests === 0) {
      const none = await t.api("POST", `/api/v1/batches/${id}/retry`);
      expect(none.status).toBe(409);
      expect(none.body.message).toContain("no failed requests");
    }
  });

  it("retry of an unfinished batch is a 409 naming its status", async () => {
    const agent = await publishedAgent(t, { model: "simulated/echo?latency_ms=300" });
    const created = await t.api("POST", "/api/v1/batches", { agent_id: agent, requests: batchRequests(4) });
    const res = await t.api("POST", `/api/v1/batches/${created.body.data.id}/retry`);
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ error_code: 10009 });
    expect(res.body.message).toMatch(/in_progress|paused/);
    await t.api("POST", `/api/v1/batches/${created.body.data.id}/cancel`);
  });

  it("status map, one result by custom_id", async () => {
    const agent = await publishedAgent(t);
    const created = await t.api("POST", "/api/v1/batches", { agent_id: agent, requests: batchRequests(5) });
    const id = created.body.data.id;
    await waitForBatch(t, id);
    const map = await t.api("GET", `/api/v1/batches/${id}/status-map?limit=3`);
    expect(map.status).toBe(200);
    expect(map.body.data).toMatchObject({
      batch_id: id,
      counts: { pending: 0, processing: 0, success: 5, failed: 0 },
      pending: [],
      processing: [],
      success: ["r-0", "r-1", "r-2"],
      failed: [],
    });
    const page2 = await t.api("GET", `/api/v1/batches/${id}/status-map?limit=3&offset=3`);
    expect(page2.body.data.success).toEqual(["r-3", "r-4"]);

    const one = await t.api("GET", `/api/v1/batches/${id}/results/r-2`);
    expect(one.status).toBe(200);
    expect(one.body.data).toMatchObject({ custom_id: "r-2", status: "success" });
    expect(one.body.data.response_content).toContain("Question 2");
    const missing = await t.api("GET", `/api/v1/batches/${id}/results/nope`);
    expect(missing.status).toBe(404);
    expect(missing.body.error_code).toBe(10003);
  });
});

describe("idempotent create", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => t.close());

  const post = async (body: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${t.url}/api/v1/batches`, {
      method: "POST",
      headers: { "x-api-key": t.key, "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
    return { status: res.status, headers: res.headers, body: (await res.json()) as any };
  };

  it("the same Idempotency-Key returns the same batch; a different body is a 409", async () => {
    const agent = await publishedAgent(t);
    const body = { agent_id: agent, requests: batchRequests(3) };
    const first = await post(body, { "idempotency-key": "key-1" });
    expect(first.status).toBe(202);
    const again = await post(body, { "idempotency-key": "key-1" });
    expect(again.status).toBe(202);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body.data.id).toBe(first.body.data.id);
    // Concurrent retries also land on one batch.
    const racing = await Promise.all([1, 2, 3].map(() => post(body, { "idempotency-key": "key-2" })));
    expect(new Set(racing.map((r) => r.body.data.id)).size).toBe(1);

    const list = await t.api("GET", "/api/v1/batches?limit=100");
    expect(list.body.data).toHaveLength(2);

    const different = await post({ ...body, name: "other" }, { "idempotency-key": "key-1" });
    expect(different.status).toBe(409);
    expect(different.body.message).toContain("Idempotency-Key");
    // Another workspace may use the same key.
    const otherKey = await t.newWorkspaceKey("other");
    const otherAgent = await publishedAgent(t, {}, otherKey);
    const res = await fetch(`${t.url}/api/v1/batches`, {
      method: "POST",
      headers: { "x-api-key": otherKey, "content-type": "application/json", "idempotency-key": "key-1" },
      body: JSON.stringify({ agent_id: otherAgent, requests: batchRequests(1) }),
    });
    const otherBody = (await res.json()) as any;
    expect(res.status).toBe(202);
    expect(otherBody.data.id).not.toBe(first.body.data.id);
  });

  it("a client-chosen id is validated, and a repeat returns the same batch", async () => {
    const agent = await publishedAgent(t);
    const body = { id: "my-batch_1", agent_id: agent, requests: batchRequests(2) };
    const first = await post(body);
    expect(first.status).toBe(202);
    expect(first.body.data.id).toBe("my-batch_1");
    const again = await post(body);
    expect(again.status).toBe(202);
    expect(again.body.data.id).toBe("my-batch_1");
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    const different = await post({ ...body, requests: batchRequests(3) });
    expect(different.status).toBe(409);
    expect(different.body.message).toContain("id");
    const bad = await post({ ...body, id: "has space" });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain("id");
    const tooLong = await post({ ...body, id: "x".repeat(129) });
    expect(tooLong.status).toBe(400);

    const otherKey = await t.newWorkspaceKey("third");
    const otherAgent = await publishedAgent(t, {}, otherKey);
    const taken = await fetch(`${t.url}/api/v1/batches`, {
      method: "POST",
      headers: { "x-api-key": otherKey, "content-type": "application/json" },
      body: JSON.stringify({ id: "my-batch_1", agent_id: otherAgent, requests: batchRequests(1) }),
    });
    expect(taken.status).toBe(409);
  });

  it("requests and file_id: exactly one", async () => {
    const agent = await publishedAgent(t);
    const neither = await post({ agent_id: agent });
    expect(neither.status).toBe(400);
    expect(neither.body.message).toContain("requests");
    const both = await post({ agent_id: agent, requests: batchRequests(1), file_id: "f" });
    expect(both.status).toBe(400);
    expect(both.body.message).toContain("file_id");
    const tooMany = await post({ agent_id: agent, requests: batchRequests(1001) });
    expect(tooMany.status).toBe(400);
  });
});
