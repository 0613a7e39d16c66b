/**
 * One tool call as an `execute_tool {tool}` span (GenAI semantic conventions), a child of the
 * active item span beside the model-call spans. Arguments and results are put on the span only
 * when content tracing is on.
 */
import { toolCallAttributes } from "../../tracing/genai.js";
import { inSpan, traceContent } from "../../tracing/spans.js";
import type { PlannedCall, ToolOutput } from "./types.js";

/** `function` for an http tool (the agent's own), `extension` for a tool an MCP server offers. */
export function tracedToolCall(
  kind: "http" | "mcp",
  call: PlannedCall,
  run: () => Promise<ToolOutput>,
): Promise<ToolOutput> {
  const attributes = {
    ...toolCallAttributes(call.name, call.callId, kind === "mcp" ? "extension" : "function"),
    "agentbatch.tool.kind": kind,
  };
  return inSpan(`execute_tool ${call.name}`, { attributes }, async (span) => {
    const result = await run();
    if (traceContent()) {
      span.setAttributes({
        "gen_ai.tool.call.arguments": call.arguments,
        "gen_ai.tool.call.result": result.output.slice(0, 4096),
      });
    }
    if (result.isError) {
      span.setAttributes({ "error.type": "tool_error" });
      span.fail(result.output.slice(0, 200));
    }
    return result;
  });
}
