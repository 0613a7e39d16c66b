import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishedAgent, startTestServer, type TestServer, waitForBatch } from "../helpers/server.js";

describe("a batch end to end on the simulated model", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => t.close());

  it("runs every request and returns the seed's result shape", async () => {
    const agentId = await publishedAgent(t);
    const created = await t.api("POST", "/api/v1/batches", {
      agent_id: agentId,
      requests: Array.from({ length: 25 }, (_, i) => ({ custom_id: `req-${i}`, message: `Question ${i}` })),
    });
    expect(created.status).toBe(202);
    expect(created.body).toMatchObject({
      message: null,
      error_code: 0,
      data: { status: "in_progress", total_requests: 25 },
    });
    const done = await waitForBatch(t, created.body.data.id);
    expect(done).toMatchObject({ status: "completed", completed_requests: 25, failed_requests: 0 });
    const results = await t.api("GET", `/api/v1/batches/${done.id}/results?limit=100`);
    expect(results.body.data).toHaveLength(25);
    const first = results.body.data[0];
    expect(first).toMatchObject({
      custom_id: "req-0",
      status: "success",
      error_code: null,
      error_message: null,
    });
    expect(first.response_content).toContain("Question 0");
    expect(first.response_usage.total_tokens).toBe(
      first.response_usage.total_prompt_tokens + first.response_usage.total_completion_tokens,
    );
    expect(typeof first.history_id).toBe("number");
    expect(typeof first.conversation_id).toBe("number");
    expect(first.processed_at).toMatch(/^\d{4}-\d\d-\d\dT/);
  });
});
