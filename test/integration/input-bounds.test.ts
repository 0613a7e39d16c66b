import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishedAgent, startTestServer, type TestServer } from "../helpers/server.js";

describe("bad input gets a 4xx, and keys stay out of URLs", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => t.close());

  it("answers 400 naming offset for an offset too large for the database", async () => {
    const r = await t.api("GET", "/api/v1/batches?offset=100000000000000000000");
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ error_code: 10006 });
    expect(r.body.message).toMatch(/offset/);
  });

  it("answers 400 for a chat id past the safe integer range", async () => {
    const r = await t.api("GET", "/api/v1/chats/100000000000000000000/messages");
    expect(r.status).toBe(400);
  });

  it("answers 400, not 500, for a multipart body without a boundary on every upload route", async () => {
    for (const path of ["/api/v1/files", "/api/v1/chats/upload-file", "/v1/files"]) {
      const res = await fetch(`${t.url}${path}`, {
        method: "POST",
        headers: {
          "x-api-key": t.key,
          authorization: `Bearer ${t.key}`,
          "content-type": "multipart/form-data",
        },
        body: "not really multipart",
      });
      expect(res.status, path).toBe(400);
    }
  });

  it("accepts ?api_key= only on the progress streams", async () => {
    const res = await fetch(`${t.url}/api/v1/batches?api_key=${t.key}`, {
      headers: { accept: "text/event-stream" },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error_code: number }).error_code).toBe(10001);
  });

  it("refuses an empty webhook secret with 400 naming the field, on the batch and on a request", async () => {
    const agent = await publishedAgent(t);
    const requests = [{ custom_id: "a", message: "hi" }];
    const batch = await t.api("POST", "/api/v1/batches", {
      agent_id: agent,
      requests,
      webhook: { url: "https://example.com/hook", secret: "" },
    });
    expect(batch.status).toBe(400);
    expect(batch.body).toMatchObject({ data: null, error_code: 10006 });
    expect(batch.body.message).toMatch(/^webhook\.secret: /);
    const request = await t.api("POST", "/api/v1/batches", {
      agent_id: agent,
      requests: [{ ...requests[0], webhook: { url: "https://example.com/hook", secret: "" } }],
    });
    expect(request.status).toBe(400);
    expect(request.body.message).toMatch(/^requests\[0\]\.webhook\.secret: /);
    const unsigned = await t.api("POST", "/api/v1/batches", {
      agent_id: agent,
      requests,
      webhook: { url: "https://example.com/hook", secret: null },
    });
    expect(unsigned.status).toBe(202);
    expect(unsigned.body.data.webhook.has_secret).toBe(false);
  });
});
