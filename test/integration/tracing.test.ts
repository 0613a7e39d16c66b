/**
 * OpenTelemetry traces: a local OTLP/HTTP receiver (a plain HTTP server decoding the exporter's
 * JSON) stands in for a tracing backend. A small batch produces one `agentbatch.item` span per
 * item with a `chat {model}` child per model call, carrying the GenAI attributes and the batch's
 * ids, and no message contents; an agent with an http tool adds an `execute_tool {tool}` child
 * per tool call beside its model calls.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  publishedAgent,
  startTestServer,
  type TestServer,
  waitFor,
  waitForBatch,
} from "../helpers/server.js";
import { lookupAgent, startToolReceiver, type ToolReceiver } from "../helpers/tool-receiver.js";

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: { key: string; value: Record<string, unknown> }[];
  events?: { name: string }[];
  status?: { code?: number };
}

const spans: OtlpSpan[] = [];
const resources: Record<string, unknown>[] = [];
let receiver: Server;
let t: TestServer;
let tools: ToolReceiver;

function attr(span: OtlpSpan, key: string): unknown {
  const v = span.attributes.find((a) => a.key === key)?.value;
  if (!v) return undefined;
  if ("stringValue" in v) return v.stringValue;
  if ("intValue" in v) return Number(v.intValue);
  if ("arrayValue" in v)
    return (v.arrayValue as { values: { stringValue: string }[] }).values.map((x) => x.stringValue);
  return Object.values(v)[0];
}

beforeAll(async () => {
  tools = await startToolReceiver("tool-secret");
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      const payload = JSON.parse(body);
      for (const rs of payload.resourceSpans ?? []) {
        resources.push(rs.resource);
        for (const ss of rs.scopeSpans ?? []) spans.push(...ss.spans);
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  const port = (receiver.address() as AddressInfo).port;
  t = await startTestServer((c) => {
    c.tracing = {
      endpoint: `http://127.0.0.1:${port}/v1/traces`,
      serviceName: "agentbatch-test",
      includeContent: false,
      exportDelayMs: 50,
    };
    c.tools.trustedOrigins = [tools.origin];
  });
});

afterAll(async () => {
  await t.close();
  await new Promise((r) => receiver.close(r));
  await tools?.close();
});

it("sends a span per item attempt with a child per model call, GenAI attributes, no contents", async () => {
  const agentId = await publishedAgent(t);
  const requests = [0, 1, 2].map((i) => ({ custom_id: `c${i}`, message: `secret question ${i}` }));
  const created = await t.api("POST", "/api/v1/batches", { agent_id: agentId, requests });
  const batchId = created.body.data.id;
  await waitForBatch(t, batchId);
  const items = await waitFor(
    () => {
      const found = spans.filter(
        (s) => s.name === "agentbatch.item" && attr(s, "agentbatch.batch_id") === batchId,
      );
      return found.length === 3 ? found : null;
    },
    { what: "three item spans" },
  );
  expect(items.map((s) => attr(s, "agentbatch.custom_id")).sort()).toEqual(["c0", "c1", "c2"]);
  for (const item of items) {
    expect(attr(item, "agentbatch.workspace_id")).toBeTruthy();
    expect(attr(item, "agentbatch.attempt")).toBe(1);
    expect(attr(item, "agentbatch.outcome")).toBe("success");
    const calls = await waitFor(() => {
      const c = spans.filter((s) => s.parentSpanId === item.spanId);
      return c.length > 0 ? c : null;
    });
    expect(calls).toHaveLength(1);
    const call = calls[0];
    expect(call.name).toBe("chat echo");
    expect(call.traceId).toBe(item.traceId);
    expect(attr(call, "gen_ai.operation.name")).toBe("chat");
    expect(attr(call, "gen_ai.provider.name")).toBe("simulated");
    expect(attr(call, "gen_ai.request.model")).toBe("echo");
    expect(attr(call, "gen_ai.usage.input_tokens")).toBeGreaterThan(0);
    expect(attr(call, "gen_ai.usage.output_tokens")).toBeGreaterThan(0);
    expect(attr(call, "gen_ai.response.finish_reasons")).toEqual(["stop"]);
    expect(call.events ?? []).toEqual([]);
  }
  expect(JSON.stringify(spans)).not.toContain("secret question");
  expect(JSON.stringify(resources)).toContain("agentbatch-test");
});

it("sends an execute_tool span per tool call, a sibling of the model calls under the item", async () => {
  const agentId = await lookupAgent(t, tools);
  const created = await t.api("POST", "/api/v1/batches", {
    agent_id: agentId,
    requests: [{ custom_id: "tool-1", message: "Weather in Paris, secret city" }],
  });
  expect(created.status, JSON.stringify(created.body)).toBe(202);
  const batchId = created.body.data.id;
  await waitForBatch(t, batchId);
  const item = await waitFor(
    () => spans.find((s) => s.name === "agentbatch.item" && attr(s, "agentbatch.batch_id") === batchId),
    { what: "the item span" },
  );
  const children = await waitFor(
    () => {
      const c = spans.filter((s) => s.parentSpanId === item.spanId);
      return c.length >= 3 ? c : null;
    },
    { what: "three child spans" },
  );
  expect(children.map((s) => s.name).sort()).toEqual(["chat echo", "chat echo", "execute_tool lookup"]);
  const tool = children.find((s) => s.name === "execute_tool lookup") as OtlpSpan;
  expect(tool.traceId).toBe(item.traceId);
  expect(attr(tool, "gen_ai.operation.name")).toBe("execute_tool");
  expect(attr(tool, "gen_ai.tool.name")).toBe("lookup");
  expect(attr(tool, "gen_ai.tool.type")).toBe("function");
  expect(attr(tool, "agentbatch.tool.kind")).toBe("http");
  const steps = await t.api("GET", `/api/v1/batches/${batchId}/results/tool-1/steps`);
  expect(steps.status).toBe(200);
  expect(attr(tool, "gen_ai.tool.call.id")).toBe(steps.body.data.steps[1].call_id);
  expect(tool.status?.code ?? 0).not.toBe(2);
  expect(attr(tool, "gen_ai.tool.call.arguments")).toBeUndefined();
  expect(JSON.stringify(spans)).not.toContain("secret city");
});

it("marks the execute_tool span of a failed tool call as an error", async () => {
  const agentId = await publishedAgent(t, {
    tools: [{ type: "http", name: "internal", url: `https://127.0.0.1:${new URL(tools.url).port}/tool` }],
  });
  const created = await t.api("POST", "/api/v1/batches", {
    agent_id: agentId,
    requests: [{ custom_id: "guarded", message: "call internal" }],
  });
  const batchId = created.body.data.id;
  await waitForBatch(t, batchId);
  const item = await waitFor(
    () => spans.find((s) => s.name === "agentbatch.item" && attr(s, "agentbatch.batch_id") === batchId),
    { what: "the item span" },
  );
  const tool = await waitFor(
    () => spans.find((s) => s.parentSpanId === item.spanId && s.name === "execute_tool internal"),
    { what: "the execute_tool span" },
  );
  expect(tool.status?.code).toBe(2);
  expect(attr(tool, "error.type")).toBe("tool_error");
  expect(attr(item, "agentbatch.outcome")).toBe("success");
});
