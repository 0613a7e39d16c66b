/** Client tool calls and the answer to submitted outputs, as the API shows them. */
import { iso } from "../../domain/time.js";
import type { PendingToolCall, ToolOutputsReport } from "../../store/types.js";

export function toolCallToWire(c: PendingToolCall) {
  let args: unknown = c.arguments;
  try {
    args = JSON.parse(c.arguments);
  } catch {
    /* invalid JSON from the model: given as the text it wrote */
  }
  return {
    call_id: c.callId,
    custom_id: c.customId,
    tool: c.tool,
    arguments: args,
    created_at: iso(c.createdAt),
  };
}

export function toolOutputsToWire(batchId: string, report: ToolOutputsReport) {
  return {
    batch_id: batchId,
    accepted: report.results.filter((r) => r.accepted).length,
    refused: report.results.filter((r) => !r.accepted).length,
    resumed_requests: report.resumed,
    results: report.results.map((r) =>
      r.accepted
        ? { call_id: r.callId, accepted: true as const, reason: undefined }
        : { call_id: r.callId, accepted: false as const, reason: r.reason },
    ),
  };
}
