/**
 * Per-key API rate limits (issue 16, item 4): a key over its requests per minute is answered 429
 * with error_code 10029 and Retry-After in the shape of the API it called; other keys and the
 * service routes are not affected; requests without a key count against the client address.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.js";

const LIMIT = 5;

describe("per-key rate limits", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(
      (c) => {
        c.rateLimit = { enabled: true, requestsPerMinute: LIMIT };
      },
      { worker: false },
    );
  });
  afterAll(async () => t.close());

  it("answers the request over the limit 429 in the Codeer envelope with Retry-After", async () => {
    for (let i = 0; i < LIMIT; i++) expect((await t.api("GET", "/api/v1/batches")).status).toBe(200);
    const over = await t.api("GET", "/api/v1/batches");
    expect(over.status).toBe(429);
    expect(over.body).toEqual({ data: null, message: "Too many requests", error_code: 10029 });
    const retryAfter = Number(over.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
  });

  it("counts the key across API shapes and answers in each shape's own error", async () => {
    const openai = await t.api("GET", "/v1/batches");
    expect(openai.status).toBe(429);
    expect(openai.body).toEqual({
      error: { message: "Too many requests", type: "requests", param: null, code: "rate_limit_exceeded" },
    });
    expect(openai.headers.get("retry-after")).toBeTruthy();
    const anthropic = await t.api("GET", "/v1/messages/batches");
    expect(anthropic.status).toBe(429);
    expect(anthropic.body).toEqual({
      type: "error",
      error: { type: "rate_limit_error", message: "Too many requests" },
    });
  });

  it("keeps another key's budget and leaves the service routes alone", async () => {
    const other = await t.newWorkspaceKey("other");
    expect((await t.api("GET", "/api/v1/batches", undefined, other)).status).toBe(200);
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  });

  it("limits requests without a key by client address", async () => {
    const statuses: number[] = [];
    for (let i = 0; i <= LIMIT; i++) statuses.push((await fetch(`${t.url}/api/v1/batches`)).status);
    expect(statuses.slice(0, LIMIT)).toEqual(Array(LIMIT).fill(400));
    expect(statuses[LIMIT]).toBe(429);
  });
});

describe("rate limits turned off", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(
      (c) => {
        c.rateLimit = { enabled: false, requestsPerMinute: 2 };
      },
      { worker: false },
    );
  });
  afterAll(async () => t.close());

  it("never answers 429", async () => {
    for (let i = 0; i < 6; i++) expect((await t.api("GET", "/api/v1/batches")).status).toBe(200);
  });
});
