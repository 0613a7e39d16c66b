import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  callMcpTool,
  listMcpTools,
  McpClientPool,
  type McpOptions,
  type McpToolDef,
  validateMcpToolDef,
} from "../../../src/agents/tools/mcp.js";
import { startMcpServer, type TestMcpServer } from "../../helpers/mcp-server.js";
import { waitFor } from "../../helpers/wait.js";

const open = { allowPrivateTargets: true, allowHttp: true };
const guarded = { allowPrivateTargets: false, allowHttp: true, hint: "tools.allowPrivateTargets is set" };

let server: TestMcpServer;
let def: McpToolDef;

beforeAll(async () => {
  server = await startMcpServer();
  def = { type: "mcp", server_url: server.url, headers: { Authorization: `Bearer ${server.token}` } };
});
afterAll(() => server.close());

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe("validateMcpToolDef", () => {
  it("accepts a full definition and names each bad field by its path", () => {
    expect(validateMcpToolDef({ ...def, allowed_tools: ["add"] }, "tools[0]")).toEqual([]);
    const errors = validateMcpToolDef(
      {
        type: "mcp",
        server_url: "ftp://x",
        headers: { "X-A": 1, "bad name": "v" },
        allowed_tools: ["a", "a", 3],
        extra: 1,
      },
      "tools[2]",
    );
    expect(errors.map((e) => e.field).sort()).toEqual([
      "tools[2].allowed_tools[1]",
      "tools[2].allowed_tools[2]",
      "tools[2].extra",
      "tools[2].headers.X-A",
      "tools[2].headers.bad name",
      "tools[2].server_url",
    ]);
    expect(validateMcpToolDef({ type: "mcp" }, "tools[0]")).toEqual([
      { field: "tools[0].server_url", message: expect.stringContaining("is required") },
    ]);
    expect(validateMcpToolDef({ type: "mcp", server_url: "not a url" }, "t")[0].field).toBe("t.server_url");
    expect(
      validateMcpToolDef({ type: "mcp", server_url: "https://x", allowed_tools: [] }, "t")[0].field,
    ).toBe("t.allowed_tools");
  });
});

describe("listMcpTools", () => {
  it("lists every tool with its description and JSON Schema parameters", async () => {
    const res = await listMcpTools(def, { guard: open });
    if (!res.ok) throw new Error(res.message);
    expect(res.tools.map((t) => t.name)).toEqual(["add", "lookup", "hang"]);
    const add = res.tools[0];
    expect(add.description).toBe("Adds two numbers");
    expect(add.parameters).toMatchObject({
      type: "object",
      properties: { a: { type: "number" }, b: { type: "number" } },
      required: ["a", "b"],
    });
    expect(add.parameters).not.toHaveProperty("$schema");
  });

  it("keeps only allowed_tools, and names an allowed tool the server does not list", async () => {
    const res = await listMcpTools({ ...def, allowed_tools: ["lookup"] }, { guard: open });
    expect(res.ok && res.tools.map((t) => t.name)).toEqual(["lookup"]);
    const missing = await listMcpTools({ ...def, allowed_tools: ["add", "translate"] }, { guard: open });
    expect(missing).toMatchObject({ ok: false, code: "tool_not_found" });
    expect(!missing.ok && missing.message).toContain(
      `MCP server ${server.url}: allowed_tools names "translate"`,
    );
  });

  it("passes the definition's headers: without the token the server answers 401", async () => {
    const res = await listMcpTools({ type: "mcp", server_url: server.url }, { guard: open });
    expect(res).toMatchObject({ ok: false, code: "http" });
    expect(!res.ok && res.message).toBe(`MCP server ${server.url}: HTTP 401: {"error":"unauthorized"}`);
  });

  it("says connection refused when nothing listens", async () => {
    const url = `http://127.0.0.1:${await freePort()}/mcp`;
    const res = await listMcpTools({ type: "mcp", server_url: url }, { guard: open });
    expect(res).toEqual({
      ok: false,
      code: "unreachable",
      message: `MCP server ${url}: connection refused`,
      retryable: true,
    });
  });
});

describe("the private-network guard", () => {
  it("refuses a loopback server written as an IP or as a name unless private targets are allowed", async () => {
    const calls = server.calls.length;
    const byIp = await listMcpTools(def, { guard: guarded });
    expect(byIp).toMatchObject({ ok: false, code: "refused", retryable: false });
    expect(!byIp.ok && byIp.message).toContain("127.0.0.1 is a loopback address");
    expect(!byIp.ok && byIp.message).toContain("unless tools.allowPrivateTargets is set");
    const byName = { ...def, server_url: server.url.replace("127.0.0.1", "localhost") };
    const named = await callMcpTool(byName, "add", { a: 1, b: 2 }, { guard: guarded });
    expect(named).toMatchObject({ ok: false, code: "refused" });
    expect(!named.ok && named.message).toMatch(/localhost \(resolves to .*\) is a loopback address/);
    expect(server.calls.length).toBe(calls);
    expect((await callMcpTool(def, "add", { a: 1, b: 2 }, { guard: open })).ok).toBe(true);
  });

  it("refuses plain http unless allowHttp is set", async () => {
    const res = await listMcpTools(def, { guard: { allowPrivateTargets: true, allowHttp: false } });
    expect(res).toMatchObject({ ok: false, code: "refused" });
    expect(!res.ok && res.message).toBe(
      `MCP server ${server.url}: refused: plain http MCP servers are not allowed; use https`,
    );
  });
});

describe("callMcpTool", () => {
  const opts: McpOptions = { guard: open };

  it("returns structured content as JSON, else the text", async () => {
    expect(await callMcpTool(def, "add", { a: 2, b: 40 }, opts)).toEqual({ ok: true, content: '{"sum":42}' });
    expect(await callMcpTool(def, "lookup", { key: "sky" }, opts)).toEqual({ ok: true, content: "blue" });
  });

  it("sends the call id in _meta so the server can de-duplicate", async () => {
    expect((await callMcpTool(def, "add", { a: 1, b: 1 }, { ...opts, callId: "call_7" })).ok).toBe(true);
    expect(server.lastMeta).toMatchObject({ "agentbatch/call_id": "call_7" });
  });

  it("turns an isError result into a tool_error failure with the tool's text", async () => {
    const res = await callMcpTool(def, "lookup", { key: "nope" }, opts);
    expect(res).toEqual({
      ok: false,
      code: "tool_error",
      message: `MCP server ${server.url}: tool lookup failed: no such key: nope`,
      retryable: false,
    });
  });

  it("fails an unknown tool, and refuses a tool outside allowed_tools without calling the server", async () => {
    const unknown = await callMcpTool(def, "translate", {}, opts);
    expect(unknown.ok).toBe(false);
    expect(!unknown.ok && unknown.message).toContain("translate");
    const calls = server.calls.length;
    const outside = await callMcpTool({ ...def, allowed_tools: ["add"] }, "lookup", { key: "sky" }, opts);
    expect(outside).toMatchObject({ ok: false, code: "invalid" });
    expect(!outside.ok && outside.message).toContain('tool "lookup" is not in allowed_tools');
    expect(server.calls.length).toBe(calls);
  });

  it("fails with a timeout when the tool does not answer in time, and the server sees the cancel", async () => {
    const res = await callMcpTool(def, "hang", {}, { guard: open, timeoutMs: 300 });
    expect(res).toEqual({
      ok: false,
      code: "timeout",
      message: `MCP server ${server.url}: timed out after 300 ms`,
      retryable: true,
    });
    await waitFor(() => server.hanging === 0);
  });

  it("stops when the caller aborts", async () => {
    const controller = new AbortController();
    const hangs = server.calls.filter((c) => c === "hang").length;
    const pending = callMcpTool(def, "hang", {}, { guard: open, signal: controller.signal });
    await waitFor(() => server.calls.filter((c) => c === "hang").length > hangs);
    controller.abort();
    expect(await pending).toMatchObject({ ok: false, code: "aborted" });
    await waitFor(() => server.hanging === 0);
  });
});

describe("McpClientPool", () => {
  it("shares one session across calls and reopens one the server forgot", async () => {
    const pool = new McpClientPool();
    const opts = { guard: open, pool };
    try {
      const before = server.sessionsOpened;
      const results = await Promise.all([
        callMcpTool(def, "add", { a: 1, b: 1 }, opts),
        callMcpTool(def, "lookup", { key: "apple" }, opts),
        listMcpTools(def, opts),
      ]);
      expect(results.map((r) => r.ok)).toEqual([true, true, true]);
      expect(await callMcpTool(def, "add", { a: 1, b: 2 }, opts)).toEqual({ ok: true, content: '{"sum":3}' });
      expect(server.sessionsOpened - before).toBe(1);
      expect(pool.size).toBe(1);

      server.forgetSessions();
      expect(await callMcpTool(def, "lookup", { key: "sky" }, opts)).toEqual({ ok: true, content: "blue" });
      expect(server.sessionsOpened - before).toBe(2);
      expect(pool.size).toBe(1);
    } finally {
      await pool.close();
    }
    expect(pool.size).toBe(0);
  });

  it("keeps sessions apart by headers and closes idle ones", async () => {
    const pool = new McpClientPool({ idleMs: 50 });
    try {
      const denied = await callMcpTool({ ...def, headers: {} }, "add", { a: 1, b: 1 }, { guard: open, pool });
      expect(denied).toMatchObject({ ok: false, code: "http" });
      expect((await callMcpTool(def, "add", { a: 1, b: 1 }, { guard: open, pool })).ok).toBe(true);
      await waitFor(() => pool.size === 0);
    } finally {
      await pool.close();
    }
  });
});
