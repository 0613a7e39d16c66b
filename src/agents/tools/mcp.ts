/**
 * The `mcp` tool kind: `{type: "mcp", server_url, headers?, allowed_tools?}`, a remote Model
 * Context Protocol server over Streamable HTTP through the official SDK client.
 *
 * - `validateMcpToolDef`: the definition's shape, as field errors (when an agent is written).
 * - `listMcpTools`: the server's tools (`tools/list`, every page) as model tool specs, filtered
 *   by `allowed_tools`, read when the agent is published and kept in the published version, so
 *   a batch runs a fixed tool set.
 * - `callMcpTool`: one `tools/call`, its result as text.
 *
 * Both go through the webhooks' private-network guard (`mcp-connect.ts`), have a deadline and
 * an AbortSignal, and never throw: failures are typed values with one clear message
 * (`mcp-errors.ts`). Sessions are opened per call, or shared through an `McpClientPool`
 * (`mcp-pool.ts` says why the engine should pass one).
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { CallToolResult, Tool } from "@modelcontextprotocol/sdk/types.js";
import type { GuardOptions } from "../../webhooks/guard.js";
import { closeMcp, connectMcp, type McpToolDef } from "./mcp-connect.js";
import { describeMcpError, type McpFailure, mcpFailure } from "./mcp-errors.js";
import type { McpClientPool } from "./mcp-pool.js";

export type { McpToolDef } from "./mcp-connect.js";
export type { McpFailure, McpFailureCode } from "./mcp-errors.js";
export { McpClientPool, type McpPoolOptions } from "./mcp-pool.js";
export { type McpFieldError, validateMcpToolDef } from "./mcp-validate.js";

export const DEFAULT_LIST_TIMEOUT_MS = 15_000;
export const DEFAULT_CALL_TIMEOUT_MS = 60_000;
const MAX_LIST_PAGES = 100;

export interface McpOptions {
  /** The private-network guard; `hint` names the setting that allows private targets. */
  guard: GuardOptions & { hint?: string };
  /** The whole operation's deadline: connecting, the request and its answer. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Shared sessions (the engine's); without it each operation opens and ends its own. */
  pool?: McpClientPool;
}

/** A tool as a model is offered it: `parameters` is the JSON Schema of its arguments. */
export interface McpToolSpec {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
}

export type McpListResult = { ok: true; tools: McpToolSpec[] } | McpFailure;
export type McpCallResult = { ok: true; content: string } | McpFailure;

interface Deadline {
  signal: AbortSignal;
  timeoutMs: number;
}

/** Runs `fn` with a client (pooled or one-shot) under the deadline; maps throws to failures. */
async function withClient<T>(
  def: McpToolDef,
  opts: McpOptions,
  defaultTimeoutMs: number,
  fn: (client: Client, deadline: Deadline) => Promise<T>,
): Promise<{ ok: true; value: T } | McpFailure> {
  const timeoutMs = opts.timeoutMs ?? defaultTimeoutMs;
  const timer = AbortSignal.timeout(timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timer]) : timer;
  const deadline = { signal, timeoutMs };
  try {
    if (opts.pool)
      return { ok: true, value: await opts.pool.use(def, opts.guard, deadline, (c) => fn(c, deadline)) };
    const client = await connectMcp(def, opts.guard, deadline);
    try {
      return { ok: true, value: await fn(client, deadline) };
    } finally {
      await closeMcp(client);
    }
  } catch (err) {
    return describeMcpError(err, {
      serverUrl: def.server_url,
      timeoutMs,
      aborted: opts.signal?.aborted ?? false,
      timedOut: timer.aborted,
      guardHint: opts.guard.hint,
    });
  }
}

function toSpec(tool: Tool): McpToolSpec {
  const { $schema: _, ...parameters } = tool.inputSchema as Record<string, unknown>;
  return { name: tool.name, description: tool.description ?? tool.title ?? "", parameters };
}

async function listAll(client: Client, deadline: Deadline): Promise<Tool[]> {
  const tools: Tool[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_LIST_PAGES; page++) {
    const res = await client.listTools(cursor ? { cursor } : undefined, {
      signal: deadline.signal,
      timeout: deadline.timeoutMs,
    });
    tools.push(...res.tools);
    cursor = res.nextCursor;
    if (!cursor) break;
  }
  return tools;
}

function filterAllowed(def: McpToolDef, tools: Tool[]): McpListResult {
  if (!def.allowed_tools) return { ok: true, tools: tools.map(toSpec) };
  const listed = new Set(tools.map((t) => t.name));
  const missing = def.allowed_tools.filter((name) => !listed.has(name));
  if (missing.length > 0) {
    const names = missing.map((n) => JSON.stringify(n)).join(", ");
    const offered = [...listed].map((n) => JSON.stringify(n)).join(", ") || "none";
    return mcpFailure(
      def.server_url,
      "tool_not_found",
      `allowed_tools names ${names}, which the server does not list (it lists ${offered})`,
    );
  }
  const allowed = new Set(def.allowed_tools);
  return { ok: true, tools: tools.filter((t) => allowed.has(t.name)).map(toSpec) };
}

/** The server's tools (every page of `tools/list`), those of `allowed_tools` when it is set. */
export async function listMcpTools(def: McpToolDef, opts: McpOptions): Promise<McpListResult> {
  const listed = await withClient(def, opts, DEFAULT_LIST_TIMEOUT_MS, listAll);
  return listed.ok ? filterAllowed(def, listed.value) : listed;
}

type ContentPart = CallToolResult["content"][number];

function partText(part: ContentPart): string {
  if (part.type === "text") return part.text;
  if (part.type === "resource") {
    return "text" in part.resource ? String(part.resource.text) : `[resource ${part.resource.uri}]`;
  }
  if (part.type === "resource_link") return `[resource ${part.uri}]`;
  return `[${part.type} ${part.mimeType}]`;
}

/**
 * A result as one string: `structuredContent` as JSON when the tool returned it (the spec has
 * its text part be the same JSON, for older clients), else the content parts joined by
 * newlines (text as it is, non-text parts as a short placeholder).
 */
export function mcpResultText(result: CallToolResult): string {
  if (result.structuredContent !== undefined) return JSON.stringify(result.structuredContent);
  return (result.content ?? []).map(partText).join("\n");
}

/**
 * Calls `toolName` with `args` (`tools/call`). A tool outside `allowed_tools` is refused before
 * anything is sent; a result with `isError` is a `tool_error` failure carrying the tool's text.
 */
export async function callMcpTool(
  def: McpToolDef,
  toolName: string,
  args: Record<string, unknown>,
  opts: McpOptions & { callId?: string },
): Promise<McpCallResult> {
  if (def.allowed_tools && !def.allowed_tools.includes(toolName)) {
    return mcpFailure(def.server_url, "invalid", `tool ${JSON.stringify(toolName)} is not in allowed_tools`);
  }
  const meta = opts.callId ? { _meta: { "agentbatch/call_id": opts.callId } } : {};
  const called = await withClient(def, opts, DEFAULT_CALL_TIMEOUT_MS, (client, deadline) =>
    client.callTool({ name: toolName, arguments: args, ...meta }, undefined, {
      signal: deadline.signal,
      timeout: deadline.timeoutMs,
    }),
  );
  if (!called.ok) return called;
  const result = called.value;
  if ("toolResult" in result) return { ok: true, content: JSON.stringify(result.toolResult) };
  const text = mcpResultText(result as CallToolResult);
  if (result.isError) {
    return mcpFailure(def.server_url, "tool_error", `tool ${toolName} failed: ${text || "(no message)"}`);
  }
  return { ok: true, content: text };
}
