/**
 * The attributes of model and tool call spans, after the OpenTelemetry GenAI semantic
 * conventions (gen_ai.*), and agentbatch's own (agentbatch.*).
 */
import type { Attributes } from "@opentelemetry/api";

export interface ItemSpanFacts {
  batchId: string;
  customId: string;
  workspaceId: string;
  itemId: number;
  attempt: number;
}

export function itemAttributes(item: ItemSpanFacts): Attributes {
  return {
    "agentbatch.batch_id": item.batchId,
    "agentbatch.custom_id": item.customId,
    "agentbatch.workspace_id": item.workspaceId,
    "agentbatch.item_id": item.itemId,
    "agentbatch.attempt": item.attempt,
  };
}

/** Before the call: which model of which provider, asked for what. */
export function modelCallAttributes(provider: string, model: string, maxTokens?: number): Attributes {
  return {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": provider,
    "gen_ai.request.model": model,
    ...(maxTokens === undefined ? {} : { "gen_ai.request.max_tokens": maxTokens }),
  };
}

/** After a successful call: the model that answered, its tokens and why it stopped. */
export function modelResultAttributes(result: {
  model: string;
  promptTokens: number;
  completionTokens: number;
  finishReason?: string | null;
}): Attributes {
  return {
    "gen_ai.response.model": result.model,
    "gen_ai.usage.input_tokens": result.promptTokens,
    "gen_ai.usage.output_tokens": result.completionTokens,
    ...(result.finishReason ? { "gen_ai.response.finish_reasons": [result.finishReason] } : {}),
  };
}

export function toolCallAttributes(tool: string, callId: string, kind: string): Attributes {
  return {
    "gen_ai.operation.name": "execute_tool",
    "gen_ai.tool.name": tool,
    "gen_ai.tool.call.id": callId,
    "gen_ai.tool.type": kind,
  };
}
