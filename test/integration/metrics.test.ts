import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishedAgent, startTestServer, type TestServer, waitForBatch } from "../helpers/server.js";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text exposition format (0.0.4), checking every line's syntax. */
function parsePrometheus(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$/;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("# HELP ")) continue;
    if (line.startsWith("# TYPE ")) {
      const [, , name, type] = line.split(" ");
      expect(["counter", "gauge", "histogram", "summary", "untyped"]).toContain(type);
      types.set(name, type);
      continue;
    }
    const m = sampleLine.exec(line);
    expect(m, `not a Prometheus sample line: ${line}`).not.toBeNull();
    const labels: Record<string, string> = {};
    for (const l of (m?.[3] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]] = l[2];
    const value = Number(m?.[4] === "+Inf" ? Infinity : m?.[4] === "-Inf" ? -Infinity : m?.[4]);
    // prom-client writes an empty histogram's mean as "Nan"; Prometheus reads NaN in any case.
    expect(Number.isNaN(value) && !/^nan$/i.test(m?.[4] ?? ""), `bad value in: ${line}`).toBe(false);
    samples.push({ name: m?.[1] as string, labels, value });
  }
  return { samples, types };
}

const value = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);

describe("/metrics", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer((c) => {
      c.engine.maxAttempts = 2;
      c.engine.retryBaseMs = 10;
      c.engine.retryMaxMs = 20;
      c.models = { "chat-metrics": "simulated/chat-metrics" };
    });
  });
  afterAll(async () => t.close());

  it("parses as Prometheus text and its item counts equal the batch counters", async () => {
    const ok = await publishedAgent(t);
    const limited = await publishedAgent(t, { settings: { error_rate: 1, fail_status: 429 } });
    const slow = await publishedAgent(t, { settings: { latency_ms: 5000 } });
    const requests = (n: number, p: string) =>
      Array.from({ length: n }, (_, i) => ({ custom_id: `${p}${i}`, message: `m${i}` }));
    const a = await t.api("POST", "/api/v1/batches", { agent_id: ok, requests: requests(30, "a") });
    const b = await t.api("POST", "/api/v1/batches", { agent_id: limited, requests: requests(4, "b") });
    const other = await t.newWorkspaceKey("metrics-other");
    const otherAgent = await publishedAgent(t, {}, other);
    const c = await t.api(
      "POST",
      "/api/v1/batches",
      { agent_id: otherAgent, requests: requests(5, "c") },
      other,
    );
    await waitForBatch(t, a.body.data.id);
    await waitForBatch(t, b.body.data.id);
    await waitForBatch(t, c.body.data.id, other);
    // A paused batch keeps its items pending: items, but not queue depth.
    const d = await t.api("POST", "/api/v1/batches", { agent_id: slow, requests: requests(3, "d") });
    await t.api("POST", `/api/v1/batches/${d.body.data.id}/pause`);

    const res = await fetch(`${t.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const { samples, types } = parsePrometheus(await res.text());
    expect(types.get("agentbatch_items")).toBe("gauge");
    expect(types.get("agentbatch_upstream_request_duration_seconds")).toBe("histogram");

    // The batch counters of every batch of both workspaces, as the API shows them.
    const batches = [
      ...(await t.api("GET", "/api/v1/batches?limit=1000")).body.data,
      ...(await t.api("GET", "/api/v1/batches?limit=1000", undefined, other)).body.data,
    ];
    const sum = (f: string) => batches.reduce((s: number, x: any) => s + x[f], 0);
    expect(value(samples, "agentbatch_items", { status: "success" })).toBe(sum("completed_requests"));
    expect(value(samples, "agentbatch_items", { status: "failed" })).toBe(sum("failed_requests"));
    expect(
      value(samples, "agentbatch_items", { status: "pending" }) +
        value(samples, "agentbatch_items", { status: "processing" }),
    ).toBe(sum("pending_requests") + sum("processing_requests"));
    expect(value(samples, "agentbatch_items")).toBe(sum("total_requests"));
    expect(value(samples, "agentbatch_items", { status: "success" })).toBe(35);
    expect(value(samples, "agentbatch_items", { status: "failed" })).toBe(4);
    expect(value(samples, "agentbatch_batches", { status: "completed" })).toBe(3);

    // Engine counters: every model call timed per provider; the 429s and their retries counted.
    const calls = value(samples, "agentbatch_upstream_request_duration_seconds_count", {
      provider: "simulated",
    });
    expect(calls).toBeGreaterThanOrEqual(35 + 8);
    expect(
      value(samples, "agentbatch_upstream_requests_total", { provider: "simulated", outcome: "success" }),
    ).toBe(35);
    expect(value(samples, "agentbatch_upstream_rate_limited_total", { provider: "simulated" })).toBe(8);
    expect(value(samples, "agentbatch_item_retries_total", { provider: "simulated", code: "429" })).toBe(4);
    // The paused batch's pending items are not runnable, and every other batch is done.
    expect(value(samples, "agentbatch_queue_depth")).toBe(0);
    expect(samples.some((s) => s.name === "process_cpu_user_seconds_total")).toBe(true);
  });

  it("counts the model calls of chat messages too", async () => {
    const agentId = await publishedAgent(t, { model: "simulated/chat-metrics" });
    const chat = await t.api("POST", "/api/v1/chats", { agent_id: agentId });
    expect(chat.status).toBe(201);
    const said = await t.api("POST", `/api/v1/chats/${chat.body.data.id}/messages`, {
      message: "hello",
      stream: false,
    });
    expect(said.status).toBe(200);
    const { samples } = parsePrometheus(await (await fetch(`${t.url}/metrics`)).text());
    const labels = { provider: "simulated", model: "chat-metrics", outcome: "success" };
    expect(value(samples, "agentbatch_upstream_requests_total", labels)).toBe(1);
    expect(value(samples, "agentbatch_upstream_request_duration_seconds_count", labels)).toBe(1);
  });

  it("labels models nobody configured as other, so clients cannot grow the label set", async () => {
    const agentId = await publishedAgent(t, { model: "simulated/made-up-model-123" });
    const chat = await t.api("POST", "/api/v1/chats", { agent_id: agentId });
    await t.api("POST", `/api/v1/chats/${chat.body.data.id}/messages`, { message: "hi", stream: false });
    const text = await (await fetch(`${t.url}/metrics`)).text();
    expect(text).not.toContain("made-up-model-123");
    const { samples } = parsePrometheus(text);
    expect(
      value(samples, "agentbatch_upstream_requests_total", { provider: "simulated", model: "other" }),
    ).toBeGreaterThanOrEqual(1);
  });
});

describe("/metrics with a bearer token", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(
      (c) => {
        c.metricsToken = "scrape-secret-0123456789";
      },
      { worker: false },
    );
  });
  afterAll(async () => t.close());

  it("answers 401 without the token or with a wrong one, and the metrics with it", async () => {
    const none = await fetch(`${t.url}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toContain("Bearer");
    expect(((await none.json()) as any).error_code).toBe(10001);
    const wrong = await fetch(`${t.url}/metrics`, { headers: { authorization: "Bearer nope" } });
    expect(wrong.status).toBe(401);
    const ok = await fetch(`${t.url}/metrics`, {
      headers: { authorization: "Bearer scrape-secret-0123456789" },
    });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain("agentbatch_items");
  });
});
