/**
 * Nothing a client sends is silently ignored: an unknown query parameter is a 400 naming it, in
 * the shape of the API it was sent to, on routes with and without parameters of their own.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishedAgent, startTestServer, type TestServer } from "../helpers/server.js";

let t: TestServer;
let agentId: string;

beforeAll(async () => {
  t = await startTestServer();
  agentId = await publishedAgent(t);
});

afterAll(async () => {
  await t.close();
});

const expectCodeer400 = (res: { status: number; body: any }, message: string) => {
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  expect(res.body).toMatchObject({ data: null, error_code: 10006, message });
};

describe("unknown query parameters", () => {
  it("are refused by name on the Codeer API's lists", async () => {
    expectCodeer400(
      await t.api("GET", "/api/v1/batches?stauts=completed"),
      "stauts is not a known query parameter",
    );
    expectCodeer400(
      await t.api("GET", "/api/v1/agents?limit=5&page=2"),
      "page is not a known query parameter",
    );
    expectCodeer400(
      await t.api("GET", "/api/v1/chats?order=created_at"),
      "order is not a known query parameter",
    );
  });

  it("are refused on routes that take no query at all", async () => {
    const created = await t.api("POST", "/api/v1/batches", {
      agent_id: agentId,
      requests: [{ custom_id: "a", message: "one" }],
    });
    expect(created.status, JSON.stringify(created.body)).toBeLessThan(300);
    const id = created.body.data.id;
    expectCodeer400(
      await t.api("GET", `/api/v1/batches/${id}?expand=items`),
      "expand is not a known query parameter",
    );
    expectCodeer400(
      await t.api("POST", `/api/v1/batches/${id}/pause?force=1`),
      "force is not a known query parameter",
    );
  });

  it("keep the parameters the routes document", async () => {
    const listed = await t.api("GET", "/api/v1/batches?limit=5&offset=0&status=completed,failed");
    expect(listed.status, JSON.stringify(listed.body)).toBe(200);
    const chats = await t.api("GET", `/api/v1/chats?limit=5&order_by=created_at&agent_id=${agentId}`);
    expect(chats.status, JSON.stringify(chats.body)).toBe(200);
  });

  it("are refused in the OpenAI shape's own error format", async () => {
    const res = await t.api("GET", "/v1/batches?limit=2&order=asc");
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.error).toMatchObject({
      type: "invalid_request_error",
      param: "order",
      message: "Unrecognized request argument supplied: order",
    });
    expect((await t.api("GET", "/v1/batches?limit=2&after=batch_x")).status).toBe(200);
    expect((await t.api("GET", "/v1/files?limit=2&order=asc&purpose=batch")).status).toBe(200);
    expect((await t.api("GET", "/v1/files/file-x?verbose=1")).status).toBe(400);
  });

  it("are refused in the Anthropic shape's own error format, which keeps the SDK's parameters", async () => {
    const res = await t.api("GET", "/v1/messages/batches?limit=2&page=3");
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body).toEqual({
      type: "error",
      error: { type: "invalid_request_error", message: "page: Extra inputs are not permitted" },
    });
    expect((await t.api("GET", "/v1/messages/batches?limit=2&after_id=x")).status).toBe(200);
    expect((await t.api("GET", "/v1/messages/batches?before_id=y")).status).toBe(200);
    // Older SDKs' client.beta.messages.batches add ?beta=true to every URL.
    expect((await t.api("GET", "/v1/messages/batches?beta=true")).status).toBe(200);
    expect((await t.api("GET", "/v1/messages/batches/msgbatch_x?beta=true")).status).toBe(404);
    expect((await t.api("GET", "/v1/messages/batches/msgbatch_x?foo=1")).status).toBe(400);
  });
});

describe("request bodies of other media types", () => {
  const post = (path: string, body: string | undefined, contentType?: string) =>
    fetch(`${t.url}${path}`, {
      method: "POST",
      headers: { "x-api-key": t.key, ...(contentType ? { "content-type": contentType } : {}) },
      body,
    });

  it("answers a non-JSON body to a JSON route with 415 naming its content type", async () => {
    const json = JSON.stringify({ agent_id: agentId, requests: [{ custom_id: "a", message: "one" }] });
    for (const type of [
      "text/plain",
      "text/plain; charset=utf-8",
      "application/x-www-form-urlencoded",
      "application/xml",
    ]) {
      const res = await post("/api/v1/batches", json, type);
      const body = await res.json();
      expect(res.status, JSON.stringify(body)).toBe(415);
      expect(body).toMatchObject({ data: null, error_code: 10006 });
      expect(body.message).toContain(type.split(";")[0]);
      expect(body.message).toContain("application/json");
    }
    const openai = await post("/v1/batches", "{}", "text/plain");
    expect(openai.status).toBe(415);
    expect((await openai.json()).error.message).toContain("text/plain");
    const anthropic = await post("/v1/messages/batches", "{}", "text/plain");
    expect(anthropic.status).toBe(415);
    expect((await anthropic.json()).error.message).toContain("text/plain");
  });

  it("still takes JSON with a charset, and bodyless state changes with or without a content type", async () => {
    // A slow model keeps the batch from completing before the cancels arrive.
    const slow = await publishedAgent(t, { model: "simulated/echo?latency_ms=20000" });
    const json = JSON.stringify({ agent_id: slow, requests: [{ custom_id: "a", message: "one" }] });
    const created = await post("/api/v1/batches", json, "application/json; charset=utf-8");
    expect(created.status).toBe(202);
    const id = (await created.json()).data.id;
    for (const type of [undefined, "application/json", "text/plain", "application/x-www-form-urlencoded"]) {
      const res = await post(`/api/v1/batches/${id}/cancel`, undefined, type);
      expect(res.status, `${type}: ${await res.text()}`).toBeLessThan(300);
    }
  });
});
