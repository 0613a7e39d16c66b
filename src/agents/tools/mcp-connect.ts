/**
 * Connecting to a remote MCP server over Streamable HTTP with the official SDK client, through
 * the webhooks' private-network guard: the transport gets a fetch whose undici agent resolves
 * names with `guardedLookup` (the socket connects to exactly the checked addresses), and every
 * request URL is checked first with `checkTargetUrl` (a host written as an IP is never looked up).
 * Redirects stay within the server's origin (the SDK's default), so they hit the same checks.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { FetchLike } from "@modelcontextprotocol/sdk/shared/transport.js";
import { Agent, fetch as undiciFetch } from "undici";
import {
  checkTargetUrl,
  type GuardOptions,
  guardedLookup,
  TargetRefusedError,
} from "../../webhooks/guard.js";

/** A tool of type `mcp` on an agent. */
export interface McpToolDef {
  type: "mcp";
  server_url: string;
  headers?: Record<string, string>;
  allowed_tools?: string[];
}

const CLIENT_INFO = { name: "agentbatch", version: "0.1.0" };

/** One undici agent per guard setting: its sockets are kept alive across clients. */
const agents = new Map<string, Agent>();

function guardedAgent(guard: GuardOptions): Agent {
  const key = `${guard.allowPrivateTargets}|${guard.allowHttp}`;
  let agent = agents.get(key);
  if (!agent) {
    agent = new Agent({ connect: { lookup: guardedLookup(guard) } });
    agents.set(key, agent);
  }
  return agent;
}

/** A fetch for the SDK transport that only reaches targets the guard allows. */
export function guardedFetch(guard: GuardOptions): FetchLike {
  const dispatcher = guardedAgent(guard);
  return async (url, init) => {
    checkTargetUrl(String(url), guard);
    const response = await undiciFetch(url, { ...(init as object), dispatcher });
    return response as unknown as Response;
  };
}

/** Opens a session with the server (the `initialize` handshake); the caller closes the client. */
export async function connectMcp(
  def: McpToolDef,
  guard: GuardOptions,
  options: { signal?: AbortSignal; timeoutMs: number },
): Promise<Client> {
  // The scheme is checked here, so the refusal does not name the webhooks' setting.
  if (/^http:/i.test(def.server_url) && !guard.allowHttp) {
    throw new TargetRefusedError("refused: plain http MCP servers are not allowed; use https");
  }
  const url = checkTargetUrl(def.server_url, guard);
  const transport = new StreamableHTTPClientTransport(url, {
    fetch: guardedFetch(guard),
    requestInit: def.headers ? { headers: { ...def.headers } } : undefined,
  });
  const client = new Client(CLIENT_INFO);
  try {
    await client.connect(transport, { signal: options.signal, timeout: options.timeoutMs });
  } catch (err) {
    await client.close().catch(() => {});
    throw err;
  }
  return client;
}

/**
 * Ends the session (`DELETE`, so the server can free it; waited for at most `waitMs`), then
 * closes the client. Never throws.
 */
export async function closeMcp(client: Client, waitMs = 2_000): Promise<void> {
  const transport = client.transport;
  if (transport instanceof StreamableHTTPClientTransport && transport.sessionId) {
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, waitMs);
      timer.unref();
    });
    await Promise.race([transport.terminateSession().catch(() => {}), waited]);
    clearTimeout(timer);
  }
  await client.close().catch(() => {});
}
