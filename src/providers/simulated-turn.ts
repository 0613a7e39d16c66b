import { simulatedJson, simulatedLogprobs } from "./simulated-output.js";
import { simulateReply } from "./simulator.js";
import { countTokens, lastUserText } from "./text.js";
import { quoteToolResults, simulateToolCalls } from "./tool-choice.js";
import type { ModelRequest, OpenAILogprobs, ToolCall } from "./types.js";

/** Everything the simulated model answers to one call, before any wire shape. */
export interface SimulatedTurn {
  /** The answer ("" when it calls tools): an echo, quoted tool results, or JSON. */
  text: string;
  toolCalls?: ToolCall[];
  finishReason: "stop" | "tool_calls";
  promptTokens: number;
  completionTokens: number;
  logprobs?: OpenAILogprobs;
}

/**
 * The simulated model's whole answer, for the simulated provider and each of mock-llm's wire
 * shapes: tool calls (`tool-choice.ts`), else the echo of `simulator.ts` with the turn's tool
 * results quoted, or structured output in place of the echo (`simulated-output.ts`).
 * `idPrefix` shapes the tool call ids (`call_` for OpenAI, `toolu_` for Anthropic).
 */
export function simulateTurn(request: ModelRequest, idPrefix?: string): SimulatedTurn {
  const { messages } = request;
  const reply = simulateReply(messages);
  const promptTokens = reply.promptTokens + requestExtraTokens(request);
  const toolCalls = simulateToolCalls(request, idPrefix);
  if (toolCalls) {
    let argumentChars = 0;
    for (const call of toolCalls) argumentChars += call.name.length + call.arguments.length;
    return {
      text: "",
      toolCalls,
      finishReason: "tool_calls",
      promptTokens,
      completionTokens: Math.max(1, Math.ceil(argumentChars / 4)),
    };
  }
  const userText = lastUserText(messages);
  const quoted = quoteToolResults(messages);
  const json = simulatedJson(request.responseFormat, `${userText}${quoted}`, userText, messages);
  const text = json ?? `${reply.text}${quoted}`;
  const turn: SimulatedTurn = {
    text,
    finishReason: "stop",
    promptTokens,
    completionTokens: text === reply.text ? reply.completionTokens : countTokens(text),
  };
  if (request.logprobs === true) turn.logprobs = simulatedLogprobs(text, request.topLogprobs ?? 0);
  return turn;
}

/** Prompt tokens beyond the messages' text: tool definitions, the output schema, earlier tool calls. */
function requestExtraTokens(request: ModelRequest): number {
  let chars = 0;
  for (const tool of request.tools ?? []) {
    chars += tool.name.length + (tool.description?.length ?? 0) + JSON.stringify(tool.parameters).length;
  }
  if (request.responseFormat?.type === "json_schema") {
    chars += JSON.stringify(request.responseFormat.jsonSchema.schema).length;
  }
  for (const m of request.messages) {
    for (const call of m.toolCalls ?? []) chars += call.name.length + call.arguments.length;
  }
  return Math.ceil(chars / 4);
}
