import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMcpServer, type TestMcpServer } from "../helpers/mcp-server.js";
import { publishedAgent, startTestServer, type TestServer, waitForBatch } from "../helpers/server.js";
import { startToolReceiver, type ToolReceiver } from "../helpers/tool-receiver.js";

const N = 20;
let t: TestServer;
let receiver: ToolReceiver;
let agentId: string;
let mcp: TestMcpServer;

beforeAll(async () => {
  receiver = await startToolReceiver("tool-secret");
  mcp = await startMcpServer();
  t = await startTestServer((c) => {
    c.tools.trustedOrigins = [receiver.origin, new URL(mcp.url).origin];
  });
  agentId = await publishedAgent(t, {
    tools: [
      {
        type: "http",
        name: "lookup",
        description: "Looks a city up",
        parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
        url: receiver.url,
        secret: "tool-secret",
      },
    ],
    max_steps: 3,
  });
});
afterAll(async () => {
  await t?.close();
  await receiver?.close();
  await mcp?.close();
});

async function results(batchId: string): Promise<any[]> {
  const r = await t.api("GET", `/api/v1/batches/${batchId}/results?limit=1000`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.data;
}

describe("an agent with an http tool", () => {
  it("runs each item as model call, tool call, model call, with the transcript stored", async () => {
    receiver.failNext = 2;
    const requests = Array.from({ length: N }, (_, i) => ({
      custom_id: `r-${i}`,
      message: `Weather in Paris ${i}`,
    }));
    const created = await t.api("POST", "/api/v1/batches", { agent_id: agentId, requests });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    const batchId = created.body.data.id;
    const batch = await waitForBatch(t, batchId);
    expect(batch.status).toBe("completed");

    const rows = await results(batchId);
    expect(rows).toHaveLength(N);
    for (const row of rows) {
      expect(row.status, JSON.stringify(row)).toBe("success");
      expect(row.response_content).toContain("Tool results:");
      expect(row.response_content).toContain(`"custom_id":"${row.custom_id}"`);
      expect(row.response_usage.tool_calls).toHaveLength(2);
      expect(row.response_usage.total_calls).toBe(2);
      const sum = row.response_usage.tool_calls.reduce((s: number, c: any) => s + c.total_tokens, 0);
      expect(row.response_usage.total_tokens).toBe(sum);
    }

    // One delivered call per item (two 503s were retried), signed, keyed by its call id.
    expect(receiver.calls).toHaveLength(N);
    expect(new Set(receiver.calls.map((c) => c.callId)).size).toBe(N);
    for (const c of receiver.calls) {
      expect(c.signaturesValid).toBe(true);
      expect(c.idempotencyKey).toBe(c.callId);
      expect(c.body).toMatchObject({ tool: "lookup", agent_id: agentId, batch_id: batchId });
      expect(typeof c.body.arguments.city).toBe("string");
    }

    const steps = await t.api("GET", `/api/v1/batches/${batchId}/results/r-3/steps`);
    expect(steps.status, JSON.stringify(steps.body)).toBe(200);
    const s = steps.body.data.steps;
    expect(s.map((x: any) => x.type)).toEqual(["model", "tool", "model"]);
    expect(s[0].tool_calls).toHaveLength(1);
    expect(s[0].tool_calls[0].tool).toBe("lookup");
    expect(s[1].call_id).toBe(s[0].tool_calls[0].call_id);
    expect(s[1].output).toContain('"custom_id":"r-3"');
    expect(s[2].tool_calls).toEqual([]);
    expect(receiver.calls.find((c) => c.body.custom_id === "r-3")?.callId).toBe(s[1].call_id);
  });

  it("404s the steps of an unknown request or another workspace's batch", async () => {
    const created = await t.api("POST", "/api/v1/batches", {
      agent_id: agentId,
      requests: [{ custom_id: "a", message: "hi" }],
    });
    const batchId = created.body.data.id;
    await waitForBatch(t, batchId);
    expect((await t.api("GET", `/api/v1/batches/${batchId}/results/nope/steps`)).status).toBe(404);
    const other = await t.newWorkspaceKey("other");
    expect((await t.api("GET", `/api/v1/batches/${batchId}/results/a/steps`, undefined, other)).status).toBe(
      404,
    );
  });

  it("fails with max_steps when the model keeps calling tools", async () => {
    const loopy = await publishedAgent(t, {
      tools: [
        {
          type: "http",
          name: "lookup",
          parameters: { type: "object", properties: {} },
          url: receiver.url,
          secret: "tool-secret",
        },
      ],
      max_steps: 1,
    });
    const created = await t.api("POST", "/api/v1/batches", {
      agent_id: loopy,
      requests: [{ custom_id: "x", message: "lookup please" }],
    });
    const done = await waitForBatch(t, created.body.data.id);
    const [row] = await results(created.body.data.id);
    expect(row.status).toBe("failed");
    expect(row.error_code).toBe(400);
    expect(row.error_message).toBe("max_steps (1) reached without a final answer");
    // The model answered (with a tool call): its tokens are the item's and the batch's.
    expect(row.response_usage.total_calls).toBe(1);
    expect(row.response_usage.total_tokens).toBeGreaterThan(0);
    expect(done.usage.total_tokens).toBe(row.response_usage.total_tokens);
  });

  it("runs the tool loop for a chat message too; a client tool is refused there", async () => {
    const before = receiver.calls.length;
    const chat = await t.api("POST", "/api/v1/chats", { agent_id: agentId, name: "tools chat" });
    expect(chat.status, JSON.stringify(chat.body)).toBe(201);
    const r = await t.api("POST", `/api/v1/chats/${chat.body.data.id}/messages`, {
      message: "Weather in Oslo",
      stream: false,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(JSON.stringify(r.body.data)).toContain("Tool results:");
    expect(receiver.calls.length).toBe(before + 1);
    expect(receiver.calls.at(-1)?.body).toMatchObject({
      tool: "lookup",
      agent_id: agentId,
      chat_id: chat.body.data.id,
    });

    const clientAgent = await publishedAgent(t, { tools: [{ type: "client", name: "ask_user" }] });
    const chat2 = await t.api("POST", "/api/v1/chats", { agent_id: clientAgent, name: "client chat" });
    // A client tool: the turn waits on its call (chat-client-tools.test.ts continues such turns).
    const waiting = await t.api("POST", `/api/v1/chats/${chat2.body.data.id}/messages`, {
      message: "hi",
      stream: false,
    });
    expect(waiting.status, JSON.stringify(waiting.body)).toBe(200);
    expect(waiting.body.data).toMatchObject({ status: "awaiting_tool_calls" });
    expect(waiting.body.data.calls[0]).toMatchObject({ tool: "ask_user" });
  });

  it("refuses a tool URL inside the private network (the webhooks' guard): the model gets the error", async () => {
    const before = receiver.calls.length;
    const guarded = await publishedAgent(t, {
      tools: [
        { type: "http", name: "internal", url: `https://127.0.0.1:${new URL(receiver.url).port}/tool` },
      ],
    });
    const created = await t.api("POST", "/api/v1/batches", {
      agent_id: guarded,
      requests: [{ custom_id: "g", message: "call internal" }],
    });
    await waitForBatch(t, created.body.data.id);
    const [row] = await results(created.body.data.id);
    expect(row.status).toBe("success");
    expect(row.response_content).toContain("internal (error): refused: 127.0.0.1 is a loopback address");
    expect(receiver.calls.length).toBe(before);
  });

  it("offers an MCP server's tools (listed when the agent is saved) and calls the one the model picks", async () => {
    const mcpAgent = await publishedAgent(t, {
      tools: [
        {
          type: "mcp",
          server_url: mcp.url,
          headers: { Authorization: `Bearer ${mcp.token}` },
          allowed_tools: ["add"],
        },
      ],
    });
    const agent = await t.api("GET", `/api/v1/agents/${mcpAgent}`);
    expect(agent.body.data.tools[0]).toMatchObject({ type: "mcp", server_url: mcp.url, has_headers: true });
    expect(agent.body.data.tools[0].tools.map((x: any) => x.name)).toEqual(["add"]);
    const created = await t.api("POST", "/api/v1/batches", {
      agent_id: mcpAgent,
      requests: [{ custom_id: "m", message: "please add" }],
    });
    await waitForBatch(t, created.body.data.id);
    const [row] = await results(created.body.data.id);
    expect(row.status, JSON.stringify(row)).toBe("success");
    expect(row.response_content).toContain("add: ");
    expect(row.response_content).toContain("sum");
    expect(mcp.calls).toContain("add");

    const down = await t.api("POST", "/api/v1/agents", {
      name: "mcp down",
      model: "simulated/echo",
      tools: [{ type: "mcp", server_url: "http://127.0.0.1:9/mcp" }],
    });
    expect(down.status).toBe(400);
    expect(down.body.message).toContain("tools[0]");
  });
});
