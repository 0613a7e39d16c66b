/**
 * An agent's MCP servers in the tool loop: their tools listed when the agent is saved (the
 * published version keeps the list), and a call routed to the server that listed the tool.
 */

import type { AgentTool } from "../../store/types.js";
import type { GuardOptions } from "../../webhooks/guard.js";
import { callMcpTool, listMcpTools } from "./mcp.js";
import type { PlannedCall, ToolCallContext, ToolOutput } from "./types.js";
import { capOutput } from "./types.js";
import { checkOfferedNames, ToolDefinitionError } from "./validate.js";

type McpTool = Extract<AgentTool, { type: "mcp" }>;

export interface McpGuardRules {
  trustedOrigins: readonly string[];
  allowPrivateTargets: boolean;
}

/** The guard of a server: origins in `tools.trusted_origins` may be http and private. */
export function mcpGuard(serverUrl: string, rules: McpGuardRules): GuardOptions & { hint?: string } {
  const trusted = rules.trustedOrigins.includes(new URL(serverUrl).origin);
  return trusted
    ? { allowPrivateTargets: true, allowHttp: true }
    : { allowPrivateTargets: rules.allowPrivateTargets, allowHttp: false, hint: "tools.trusted_origins" };
}

/** Lists every MCP server's tools into its definition; throws ToolDefinitionError naming the server. */
export async function listAgentMcpTools(tools: AgentTool[], rules: McpGuardRules): Promise<AgentTool[]> {
  const listed = await Promise.all(
    tools.map(async (t, i): Promise<AgentTool> => {
      if (t.type !== "mcp") return t;
      const result = await listMcpTools(t.server, { guard: mcpGuard(t.server.server_url, rules) });
      if (!result.ok) throw new ToolDefinitionError(`tools[${i}]: ${result.message}`);
      return { ...t, tools: result.tools };
    }),
  );
  checkOfferedNames(listed);
  return listed;
}

/** Calls a listed MCP tool; a failure is the model's error result. */
export async function runMcpTool(
  tool: McpTool,
  call: PlannedCall,
  ctx: ToolCallContext,
  rules: McpGuardRules,
): Promise<ToolOutput> {
  const startedAt = Date.now();
  let args: Record<string, unknown>;
  try {
    args = JSON.parse(call.arguments);
  } catch {
    return { output: "the arguments are not valid JSON", isError: true, durationMs: 0 };
  }
  const result = await callMcpTool(tool.server, call.name, args, {
    guard: mcpGuard(tool.server.server_url, rules),
    signal: ctx.signal,
    callId: call.callId,
  });
  if (ctx.signal.aborted) throw ctx.signal.reason;
  const durationMs = Date.now() - startedAt;
  if (!result.ok) return { output: capOutput(result.message), isError: true, durationMs };
  return { output: capOutput(result.content), isError: false, durationMs };
}
