/**
 * The edges of HTTP every API shape shares (issue 16): errors Fastify raises before routing
 * (a malformed percent-encoding, an over-long path parameter) and unknown routes answered in the
 * shape of the API the URL belongs to; every id the API hands out reachable in a path; a bodyless
 * POST sent with `Content-Type: application/json` accepted.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishedAgent, startTestServer, type TestServer, waitForBatch } from "../helpers/server.js";

/** A POST with `Content-Type: application/json` and an empty body. */
async function emptyJsonPost(t: TestServer, path: string) {
  return t.api("POST", path, "");
}

const TOO_LONG = "x".repeat(2000);

describe("errors raised before routing, in the shape of the URL's API", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(() => {}, { worker: false });
  });
  afterAll(async () => t.close());

  it("answers a malformed percent-encoding with 400 in the Codeer envelope", async () => {
    const res = await t.api("GET", "/api/v1/batches/%zz");
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ data: null, error_code: 10006 });
    expect(res.body.message).toMatch(/^Malformed URL/);
  });

  it("answers the same in OpenAI's shape under /v1 and Anthropic's under /v1/messages/batches", async () => {
    const openai = await t.api("GET", "/v1/batches/%zz");
    expect(openai.status).toBe(400);
    expect(openai.body).toEqual({
      error: {
        message: expect.stringMatching(/^Malformed URL/),
        type: "invalid_request_error",
        param: null,
        code: null,
      },
    });
    const anthropic = await t.api("GET", "/v1/messages/batches/%zz");
    expect(anthropic.status).toBe(400);
    expect(anthropic.body).toEqual({
      type: "error",
      error: { type: "invalid_request_error", message: expect.stringMatching(/^Malformed URL/) },
    });
  });

  it("answers a path parameter over the bound with 414 in each shape", async () => {
    const codeer = await t.api("GET", `/api/v1/batches/${TOO_LONG}`);
    expect(codeer.status).toBe(414);
    expect(codeer.body).toMatchObject({ data: null, error_code: 10006 });
    expect(codeer.body.message).toContain("1024 characters");
    const openai = await t.api("GET", `/v1/batches/${TOO_LONG}`);
    expect(openai.status).toBe(414);
    expect(openai.body.error).toMatchObject({ type: "invalid_request_error" });
    const anthropic = await t.api("GET", `/v1/messages/batches/${TOO_LONG}`);
    expect(anthropic.status).toBe(414);
    expect(anthropic.body).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
  });

  it("answers an unknown route with 404 in each shape", async () => {
    const codeer = await t.api("GET", "/api/v1/nothing-here");
    expect(codeer.status).toBe(404);
    expect(codeer.body).toEqual({
      data: null,
      message: "Route GET /api/v1/nothing-here not found",
      error_code: 10003,
    });
    const openai = await t.api("GET", "/v1/nothing-here");
    expect(openai.status).toBe(404);
    expect(openai.body.error).toMatchObject({
      type: "invalid_request_error",
      message: "Route GET /v1/nothing-here not found",
    });
    const anthropic = await t.api("GET", "/v1/messages/batches/x/nothing-here");
    expect(anthropic.status).toBe(404);
    expect(anthropic.body).toMatchObject({ type: "error", error: { type: "not_found_error" } });
  });
});

describe("long ids in paths", () => {
  let t: TestServer;
  let agentId: string;
  beforeAll(async () => {
    t = await startTestServer();
    agentId = await publishedAgent(t);
  });
  afterAll(async () => t.close());

  it("reads, cancels and reads the results of a batch with a 128-character client id and 256-character custom_ids", async () => {
    const id = "b".repeat(128);
    const ascii = "c".repeat(256);
    // 256 characters that percent-encode to 1536: the bound is on the decoded parameter.
    const accented = "é".repeat(256);
    const created = await t.api("POST", "/api/v1/batches", {
      id,
      agent_id: agentId,
      requests: [
        { custom_id: ascii, message: "one" },
        { custom_id: accented, message: "two" },
      ],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(202);

    const read = await t.api("GET", `/api/v1/batches/${id}`);
    expect(read.status).toBe(200);
    expect(read.body.data.id).toBe(id);
    await waitForBatch(t, id);
    for (const customId of [ascii, accented]) {
      const result = await t.api("GET", `/api/v1/batches/${id}/results/${encodeURIComponent(customId)}`);
      expect(result.status, JSON.stringify(result.body)).toBe(200);
      expect(result.body.data).toMatchObject({ custom_id: customId, status: "success" });
    }
    // Ended: cancel reaches the batch and is refused for its status, not for its URL.
    const cancel = await emptyJsonPost(t, `/api/v1/batches/${id}/cancel`);
    expect(cancel.status).toBe(409);
    expect(cancel.body.error_code).toBe(10009);
  });
});

describe("bodyless POSTs with Content-Type: application/json", () => {
  let t: TestServer;
  let agentId: string;
  beforeAll(async () => {
    t = await startTestServer();
    agentId = await publishedAgent(t, { model: "simulated/echo?latency_ms=2000" });
  });
  afterAll(async () => t.close());

  it("accepts pause, resume, cancel, retry and publish with an empty JSON body", async () => {
    const created = await t.api("POST", "/api/v1/batches", {
      agent_id: agentId,
      requests: Array.from({ length: 3 }, (_, i) => ({ custom_id: `r${i}`, message: `m${i}` })),
    });
    expect(created.status).toBe(202);
    const id = created.body.data.id;
    expect((await emptyJsonPost(t, `/api/v1/batches/${id}/pause`)).status).toBe(200);
    expect((await emptyJsonPost(t, `/api/v1/batches/${id}/resume`)).status).toBe(200);
    const retry = await emptyJsonPost(t, `/api/v1/batches/${id}/retry`);
    expect(retry.status).toBe(409);
    expect(retry.body.error_code).toBe(10009);
    expect((await emptyJsonPost(t, `/api/v1/batches/${id}/cancel`)).status).toBe(202);

    const agent = await t.api("POST", "/api/v1/agents", { name: "later", model: "simulated/echo" });
    const publish = await emptyJsonPost(t, `/api/v1/agents/${agent.body.data.id}/publish`);
    expect(publish.status).toBe(200);
    expect(publish.body.data.publish_state).toBe("published");
  });

  it("accepts the cancel of the OpenAI and Anthropic shapes with an empty JSON body", async () => {
    const openai = await emptyJsonPost(t, "/v1/batches/batch_nope/cancel");
    expect(openai.status).toBe(404);
    expect(openai.body.error).toMatchObject({ message: "No such batch: batch_nope", param: "id" });
    const anthropic = await emptyJsonPost(t, "/v1/messages/batches/msgbatch_nope/cancel");
    expect(anthropic.status).toBe(404);
    expect(anthropic.body.error).toMatchObject({ type: "not_found_error" });
  });

  it("still answers 400 naming the body on a route that needs one", async () => {
    const codeer = await emptyJsonPost(t, "/api/v1/batches");
    expect(codeer.status).toBe(400);
    expect(codeer.body).toEqual({
      data: null,
      message: "The request body is empty; send a JSON object",
      error_code: 10006,
    });
    const openai = await emptyJsonPost(t, "/v1/batches");
    expect(openai.status).toBe(400);
    expect(openai.body.error).toMatchObject({
      message: "The request body is empty; send a JSON object",
      type: "invalid_request_error",
    });
    const anthropic = await emptyJsonPost(t, "/v1/messages/batches");
    expect(anthropic.status).toBe(400);
    expect(anthropic.body.error).toMatchObject({ type: "invalid_request_error" });
    const malformed = await t.api("POST", "/api/v1/batches", "{");
    expect(malformed.status).toBe(400);
    expect(malformed.body.message).toMatch(/^Malformed JSON body/);
  });
});
