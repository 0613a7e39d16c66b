/**
 * What went wrong with an MCP server, as a typed value with one clear message
 * ("MCP server https://x: connection refused") that a route can answer with and a turn can
 * hand to the model. Nothing here throws.
 */
import { StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import { TargetRefusedError } from "../../webhooks/guard.js";

/**
 * - `invalid`: the definition or the call is wrong before anything is sent (a tool outside
 *   `allowed_tools`); `refused`: the guard refused the target; `unreachable`: DNS, TCP or TLS
 *   failed; `timeout` / `aborted`: the deadline passed or the caller aborted; `http`: the server
 *   answered a non-2xx status; `protocol`: a JSON-RPC error or a malformed answer;
 *   `tool_not_found`: an allowed tool the server does not list; `tool_error`: the tool ran and
 *   reported an error (`isError`).
 */
export type McpFailureCode =
  | "invalid"
  | "refused"
  | "unreachable"
  | "timeout"
  | "aborted"
  | "http"
  | "protocol"
  | "tool_not_found"
  | "tool_error";

export interface McpFailure {
  ok: false;
  code: McpFailureCode;
  message: string;
  /** True where a later attempt may succeed (unreachable, timeout, HTTP 408/429/5xx). */
  retryable: boolean;
}

export function mcpFailure(
  serverUrl: string,
  code: McpFailureCode,
  detail: string,
  retryable = false,
): McpFailure {
  return { ok: false, code, message: `MCP server ${serverUrl}: ${detail}`, retryable };
}

/** How the call ended when it threw: the caller's signal, the deadline, or neither. */
export interface FailureContext {
  serverUrl: string;
  timeoutMs: number;
  aborted: boolean;
  timedOut: boolean;
  /** Names the setting that allows private targets, for the refusal message. */
  guardHint?: string;
}

const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "connection timed out",
  UND_ERR_CONNECT_TIMEOUT: "connection timed out",
  UND_ERR_SOCKET: "connection closed by the server",
};

function causes(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = err; e && chain.length < 8; e = (e as { cause?: unknown }).cause) chain.push(e);
  return chain;
}

function networkDetail(chain: unknown[]): string | null {
  for (const e of chain) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== "string") continue;
    if (NETWORK_CODES[code]) return NETWORK_CODES[code];
    if (code.startsWith("CERT_") || code.includes("TLS") || code.includes("SSL")) {
      return `TLS error: ${(e as Error).message}`;
    }
  }
  return null;
}

function refusalDetail(err: TargetRefusedError, hint: string | undefined): string {
  // The guard's message ends with the webhooks' setting; keep what it found, name ours.
  const what = err.message.split("; webhooks")[0];
  if (what === err.message) return what;
  return `${what}; MCP servers are not reached inside private networks unless ${hint ?? "private targets are allowed in the config"}`;
}

/** Maps anything the SDK, the transport or the guard threw to a typed failure. */
export function describeMcpError(err: unknown, ctx: FailureContext): McpFailure {
  const url = ctx.serverUrl;
  const chain = causes(err);
  const refused = chain.find((e): e is TargetRefusedError => e instanceof TargetRefusedError);
  if (refused) return mcpFailure(url, "refused", refusalDetail(refused, ctx.guardHint));
  if (ctx.aborted) return mcpFailure(url, "aborted", "aborted by the caller");
  const sdkTimeout = err instanceof McpError && err.code === ErrorCode.RequestTimeout;
  if (ctx.timedOut || sdkTimeout)
    return mcpFailure(url, "timeout", `timed out after ${ctx.timeoutMs} ms`, true);
  const network = networkDetail(chain);
  if (network) return mcpFailure(url, "unreachable", network, true);
  if (err instanceof StreamableHTTPError) {
    const status = err.code ?? 0;
    const retryable = status === 408 || status === 429 || status >= 500;
    const body = err.message.replace(/^Streamable HTTP error: /, "").replace(/^Error [A-Z]+ing [^:]*: ?/, "");
    const detail = status ? `HTTP ${status}${body ? `: ${body.slice(0, 300)}` : ""}` : body;
    return mcpFailure(url, "http", detail, retryable);
  }
  if (err instanceof McpError) return mcpFailure(url, "protocol", err.message);
  return mcpFailure(url, "protocol", err instanceof Error ? err.message : String(err));
}
