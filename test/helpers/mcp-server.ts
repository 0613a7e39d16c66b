/**
 * A real MCP server for tests: the SDK's McpServer over StreamableHTTPServerTransport (stateful
 * sessions) on 127.0.0.1, an ephemeral port. Every request must carry
 * `Authorization: Bearer <token>` (401 otherwise). Tools: `add` {a, b} (text + structured
 * content), `lookup` {key} (isError for an unknown key), `hang` (answers only when cancelled).
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import * as z from "zod";

const VALUES: Record<string, string> = { apple: "red", sky: "blue" };

export interface TestMcpServer {
  url: string;
  token: string;
  /** Sessions opened (`initialize` requests answered). */
  sessionsOpened: number;
  /** `tools/call` requests received, by tool name. */
  calls: string[];
  /** The `_meta` of the last `add` call. */
  lastMeta: Record<string, unknown> | undefined;
  /** Calls of `hang` in flight. */
  hanging: number;
  /** Forgets every session, as a restarted server would (their requests then get 404). */
  forgetSessions(): void;
  close(): Promise<void>;
}

function buildMcp(state: TestMcpServer): McpServer {
  const mcp = new McpServer({ name: "test-mcp", version: "1.0.0" });
  mcp.registerTool(
    "add",
    {
      description: "Adds two numbers",
      inputSchema: { a: z.number(), b: z.number() },
      outputSchema: { sum: z.number() },
    },
    async ({ a, b }, extra) => {
      state.calls.push("add");
      state.lastMeta = extra._meta;
      return { content: [{ type: "text", text: String(a + b) }], structuredContent: { sum: a + b } };
    },
  );
  mcp.registerTool(
    "lookup",
    { description: "Looks a key up", inputSchema: { key: z.string() } },
    async ({ key }) => {
      state.calls.push("lookup");
      const value = VALUES[key];
      if (value === undefined)
        return { isError: true, content: [{ type: "text", text: `no such key: ${key}` }] };
      return { content: [{ type: "text", text: value }] };
    },
  );
  mcp.registerTool("hang", { description: "Never answers" }, async (extra) => {
    state.calls.push("hang");
    state.hanging++;
    await new Promise<void>((resolve) => extra.signal.addEventListener("abort", () => resolve()));
    state.hanging--;
    return { content: [{ type: "text", text: "cancelled" }] };
  });
  return mcp;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  return text ? JSON.parse(text) : undefined;
}

function isInitialize(body: unknown): boolean {
  return typeof body === "object" && body !== null && (body as { method?: string }).method === "initialize";
}

export async function startMcpServer(token = "s3cret"): Promise<TestMcpServer> {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const state = { sessionsOpened: 0, calls: [], hanging: 0 } as unknown as TestMcpServer;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.headers.authorization !== `Bearer ${token}`) {
      res.writeHead(401, { "content-type": "application/json" }).end('{"error":"unauthorized"}');
      return;
    }
    const body = req.method === "POST" ? await readJson(req) : undefined;
    const sessionId = req.headers["mcp-session-id"];
    let transport = typeof sessionId === "string" ? transports.get(sessionId) : undefined;
    if (!transport && isInitialize(body)) {
      const created = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          state.sessionsOpened++;
          transports.set(id, created);
        },
      });
      await buildMcp(state).connect(created);
      transport = created;
    }
    if (!transport) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end('{"jsonrpc":"2.0","error":{"code":-32001,"message":"Session not found"},"id":null}');
      return;
    }
    await transport.handleRequest(req, res, body);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  state.url = `http://127.0.0.1:${port}/mcp`;
  state.token = token;
  state.forgetSessions = () => transports.clear();
  state.close = async () => {
    await Promise.all([...transports.values()].map((t) => t.close()));
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}
