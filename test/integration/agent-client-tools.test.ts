import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentbatchClient } from "../../src/client/index.js";
import {
  publishedAgent,
  startTestServer,
  type TestServer,
  waitFor,
  waitForBatch,
} from "../helpers/server.js";

const CLIENT_TOOL = {
  type: "client",
  name: "ask_user",
  description: "Asks the user",
  parameters: { type: "object", properties: { question: { type: "string" } }, required: ["question"] },
};

async function createBatch(t: TestServer, agentId: string, n: number, key?: string): Promise<string> {
  const requests = Array.from({ length: n }, (_, i) => ({ custom_id: `r-${i}`, message: `Question ${i}` }));
  const res = await t.api("POST", "/api/v1/batches", { agent_id: agentId, requests }, key);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.data.id;
}

async function waitAwaiting(t: TestServer, batchId: string, n: number) {
  return waitFor(
    async () => {
      const r = await t.api("GET", `/api/v1/batches/${batchId}`);
      return r.body.data.awaiting_tool_calls_requests === n ? r.body.data : null;
    },
    { what: `${n} requests awaiting tool calls`, timeoutMs: 60_000 },
  );
}

async function allToolCalls(t: TestServer, batchId: string): Promise<any[]> {
  const calls: any[] = [];
  for (let offset = 0; ; offset += 400) {
    const r = await t.api(
      "GET",
      `/api/v1/batches/${batchId}/tool-calls?status=pending&limit=400&offset=${offset}`,
    );
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    calls.push(...r.body.data);
    if (r.body.data.length < 400) return calls;
  }
}

describe("client tools", () => {
  let t: TestServer;
  let agentId: string;
  beforeAll(async () => {
    t = await startTestServer((c) => {
      c.engine.concurrency = 64;
    });
    agentId = await publishedAgent(t, { tools: [CLIENT_TOOL] });
  });
  afterAll(() => t?.close());

  it("a batch of 1,000 waits for its client tool calls and finishes once they are answered", async () => {
    const batchId = await createBatch(t, agentId, 1000);
    const waiting = await waitAwaiting(t, batchId, 1000);
    expect(waiting.status).toBe("in_progress");
    const map = await t.api("GET", `/api/v1/batches/${batchId}/status-map?limit=5`);
    expect(
      map.body.data.counts?.awaiting_tool_calls ?? map.body.data.awaiting_tool_calls.length,
    ).toBeGreaterThan(0);

    const calls = await allToolCalls(t, batchId);
    expect(calls).toHaveLength(1000);
    expect(new Set(calls.map((c) => c.call_id)).size).toBe(1000);
    expect(calls[0]).toMatchObject({ tool: "ask_user" });
    expect(typeof calls[0].arguments.question).toBe("string");

    const outputs = calls.map((c) => ({ call_id: c.call_id, output: `answer for ${c.custom_id}` }));
    const sent = await t.api("POST", `/api/v1/batches/${batchId}/tool-outputs`, {
      outputs: [...outputs.slice(0, 999), { call_id: "call_unknown", output: "x" }],
    });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expect(sent.body.data).toMatchObject({ accepted: 999, refused: 1, resumed_requests: 999 });
    expect(sent.body.data.results[999]).toEqual({
      call_id: "call_unknown",
      accepted: false,
      reason: "unknown call_id",
    });

    const again = await t.api("POST", `/api/v1/batches/${batchId}/tool-outputs`, {
      outputs: [outputs[0], outputs[999]],
    });
    expect(again.body.data.results).toEqual([
      { call_id: outputs[0].call_id, accepted: false, reason: "already answered" },
      { call_id: outputs[999].call_id, accepted: true },
    ]);

    const done = await waitForBatch(t, batchId, undefined, 120_000);
    expect(done).toMatchObject({
      status: "completed",
      completed_requests: 1000,
      awaiting_tool_calls_requests: 0,
    });
    const r5 = await t.api("GET", `/api/v1/batches/${batchId}/results/r-5`);
    expect(r5.body.data.status).toBe("success");
    expect(r5.body.data.response_content).toContain("ask_user: answer for r-5");
    expect(r5.body.data.response_usage.total_calls).toBe(2);
    const steps = await t.api("GET", `/api/v1/batches/${batchId}/results/r-5/steps`);
    expect(steps.body.data.steps.map((s: any) => s.type)).toEqual(["model", "tool", "model"]);
  }, 180_000);

  it("the TS client lists the calls, answers them and reads the transcript", async () => {
    const client = new AgentbatchClient({ baseUrl: t.url, apiKey: t.key });
    const batchId = await createBatch(t, agentId, 30);
    await waitAwaiting(t, batchId, 30);
    const calls = await client.batches.toolCalls(batchId, { limit: 7 }).toArray();
    expect(calls).toHaveLength(30);
    const answer = await client.batches.submitToolOutputs(
      batchId,
      calls.map((c) => ({ call_id: c.call_id, output: { city: `city of ${c.custom_id}` } })),
    );
    expect(answer).toMatchObject({ accepted: 30, refused: 0, resumed_requests: 30 });
    const done = await client.batches.wait(batchId, { pollIntervalMs: 50 });
    expect(done.completed_requests).toBe(30);
    const transcript = await client.batches.steps(batchId, "r-2");
    expect(transcript.steps.map((s) => s.type)).toEqual(["model", "tool", "model"]);
    expect(JSON.stringify(transcript.steps[1])).toContain("city of r-2");
  });

  it("queues a request.awaiting_tool_calls webhook event for a waiting request", async () => {
    const res = await t.api("POST", "/api/v1/batches", {
      agent_id: agentId,
      webhook: { url: "https://hooks.example.invalid/agentbatch", events: ["request.awaiting_tool_calls"] },
      requests: [{ custom_id: "w-1", message: "hello" }],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const batchId = res.body.data.id;
    await waitAwaiting(t, batchId, 1);
    const deliveries = await waitFor(async () => {
      const r = await t.api("GET", `/api/v1/batches/${batchId}/webhook-deliveries`);
      return r.body.data?.length > 0 ? r.body.data : null;
    });
    expect(deliveries.map((d: any) => d.event)).toEqual(["request.awaiting_tool_calls"]);
    await t.api("POST", `/api/v1/batches/${batchId}/cancel`);
  });

  it("refuses bad outputs and hides other workspaces' batches", async () => {
    const batchId = await createBatch(t, agentId, 1);
    await waitAwaiting(t, batchId, 1);
    const [call] = await allToolCalls(t, batchId);
    const big = await t.api("POST", `/api/v1/batches/${batchId}/tool-outputs`, {
      outputs: [{ call_id: call.call_id, output: "x".repeat(70 * 1024) }],
    });
    expect(big.status).toBe(400);
    expect(big.body.message).toContain("outputs[0].output");
    expect((await t.api("POST", `/api/v1/batches/${batchId}/tool-outputs`, { outputs: [] })).status).toBe(
      400,
    );
    const tooMany = Array.from({ length: 1001 }, (_, i) => ({ call_id: `c${i}`, output: "x" }));
    expect(
      (await t.api("POST", `/api/v1/batches/${batchId}/tool-outputs`, { outputs: tooMany })).status,
    ).toBe(400);
    const other = await t.newWorkspaceKey("other-ws");
    expect((await t.api("GET", `/api/v1/batches/${batchId}/tool-calls`, undefined, other)).status).toBe(404);
    const stolen = await t.api(
      "POST",
      `/api/v1/batches/${batchId}/tool-outputs`,
      { outputs: [{ call_id: call.call_id, output: "x" }] },
      other,
    );
    expect(stolen.status).toBe(404);

    // Cancelled while waiting: 499, and its call can no longer be answered.
    const cancel = await t.api("POST", `/api/v1/batches/${batchId}/cancel`);
    expect(cancel.status, JSON.stringify(cancel.body)).toBeLessThan(300);
    const done = await waitForBatch(t, batchId);
    expect(done.status).toBe("cancelled");
    const r = await t.api("GET", `/api/v1/batches/${batchId}/results/r-0`);
    expect(r.body.data).toMatchObject({ status: "failed", error_code: 499 });
    const late = await t.api("POST", `/api/v1/batches/${batchId}/tool-outputs`, {
      outputs: [{ call_id: call.call_id, output: "late" }],
    });
    expect(late.body.data.results[0]).toMatchObject({
      accepted: false,
      reason: "the request is no longer waiting (failed)",
    });
    expect((await allToolCalls(t, batchId)).length).toBe(0);
  });
});

describe("client tools and the completion window", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer((c) => {
      c.engine.completionWindowMs = 1500;
    });
  });
  afterAll(() => t?.close());

  it("fails requests still waiting at expires_at with 408", async () => {
    const agentId = await publishedAgent(t, { tools: [CLIENT_TOOL] });
    const batchId = await createBatch(t, agentId, 3);
    const done = await waitForBatch(t, batchId);
    expect(done).toMatchObject({ status: "completed", failed_requests: 3, awaiting_tool_calls_requests: 0 });
    const r = await t.api("GET", `/api/v1/batches/${batchId}/results/r-1`);
    expect(r.body.data).toMatchObject({ status: "failed", error_code: 408 });
  });
});
