/**
 * The stored steps of a tool-using turn as provider messages, and back: a model step's payload is
 * the reply (text, tool calls with both ids, thinking), a tool step's the result of one call.
 */
import type { ChatMessage, ModelSuccess, ToolSpec } from "../../providers/types.js";
import type { AgentTool, NewTurnStep, TurnStep } from "../../store/types.js";
import type { PlannedCall, ToolOutput } from "./types.js";

export interface ModelStepPayload {
  text: string;
  model: string;
  finish_reason: string | null;
  tool_calls: { call_id: string; provider_id: string; name: string; arguments: string }[];
  thinking?: ModelSuccess["thinking"];
  /** Of the step's prompt tokens, those the provider served from its prompt cache, when it said. */
  cached_prompt_tokens?: number;
}

export interface ToolStepPayload {
  call_id: string;
  provider_id: string;
  name: string;
  output: string;
  is_error: boolean;
}

/** The tools as the model is offered them. */
export function toolSpecs(tools: AgentTool[]): ToolSpec[] {
  type Offered = { name: string; description: string | null; parameters: Record<string, unknown> };
  const offered = tools.flatMap((t): Offered[] => (t.type === "mcp" ? t.tools : [t]));
  return offered.map((t) => ({
    name: t.name,
    ...(t.description ? { description: t.description } : {}),
    parameters: t.parameters,
  }));
}

/** A model reply as a step, each tool call given its public id. */
export function modelStep(index: number, outcome: ModelSuccess, model: string, callMs: number): NewTurnStep {
  const payload: ModelStepPayload = {
    text: outcome.text,
    model,
    finish_reason: outcome.finishReason ?? null,
    tool_calls: (outcome.toolCalls ?? []).map((c) => ({
      call_id: `call_${crypto.randomUUID().replace(/-/g, "")}`,
      provider_id: c.id,
      name: c.name,
      arguments: c.arguments,
    })),
    ...(outcome.thinking ? { thinking: outcome.thinking } : {}),
    ...(outcome.usage.cachedPromptTokens === undefined
      ? {}
      : { cached_prompt_tokens: outcome.usage.cachedPromptTokens }),
  };
  return {
    index,
    kind: "model",
    payload: payload as unknown as Record<string, unknown>,
    promptTokens: outcome.usage.promptTokens,
    completionTokens: outcome.usage.completionTokens,
    durationMs: callMs,
  };
}

export function toolStep(index: number, call: PlannedCall, result: ToolOutput): NewTurnStep {
  const payload: ToolStepPayload = {
    call_id: call.callId,
    provider_id: call.providerId,
    name: call.name,
    output: result.output,
    is_error: result.isError,
  };
  return {
    index,
    kind: "tool",
    payload: payload as unknown as Record<string, unknown>,
    promptTokens: 0,
    completionTokens: 0,
    durationMs: result.durationMs,
  };
}

export function plannedCalls(step: NewTurnStep | TurnStep): PlannedCall[] {
  const p = step.payload as unknown as ModelStepPayload;
  return (p.tool_calls ?? []).map((c) => ({
    callId: c.call_id,
    providerId: c.provider_id,
    name: c.name,
    arguments: c.arguments,
  }));
}

export function assistantMessage(step: NewTurnStep | TurnStep): ChatMessage {
  const p = step.payload as unknown as ModelStepPayload;
  const calls = plannedCalls(step);
  return {
    role: "assistant",
    content: p.text ?? "",
    ...(calls.length > 0
      ? { toolCalls: calls.map((c) => ({ id: c.providerId, name: c.name, arguments: c.arguments })) }
      : {}),
    ...(p.thinking ? { thinking: p.thinking } : {}),
  };
}

export function toolMessage(step: NewTurnStep | TurnStep): ChatMessage {
  const p = step.payload as unknown as ToolStepPayload;
  return {
    role: "tool",
    toolCallId: p.provider_id,
    content: p.output,
    ...(p.is_error ? { isError: true } : {}),
  };
}

export function toolResultOf(step: NewTurnStep | TurnStep): ToolOutput {
  const p = step.payload as unknown as ToolStepPayload;
  return { output: p.output, isError: p.is_error, durationMs: step.durationMs };
}
