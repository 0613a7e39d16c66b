import { simulatedJson, simulatedLogprobs } from "./simulated-output.js";
import { simulateReply } from "./simulator.js";
import { countTokens, lastUserText } from "./text.js";
import { simulateToolUse } from "./tool-choice.js";
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
 * shapes: tool calls or the answer quoting tool results (`tool-choice.ts`), else the echo of
 * `simulator.ts`; structured output (`simulated-output.ts`) in place of the text, with strings
 * drawn from it.
 */
export function simulateTurn(request: ModelRequest): SimulatedTurn {
  const { messages } = request;
  const reply = simulateReply(messages);
  const toolUse = simulateToolUse(messages, request.tools, request.toolChoice, request.parallelToolCalls);
  if (toolUse?.kind === "call") {
    return {
      text: "",
      toolCalls: toolUse.calls,
      finishReason: "tool_calls",
      promptTokens: reply.promptTokens,
      completionTokens: countTokens(toolUse.calls.map((c) => c.name + c.arguments).join("")),
    };
  }
  const answer = toolUse?.kind === "answer" ? toolUse.text : undefined;
  const userText = lastUserText(messages);
  const json = simulatedJson(request.responseFormat, answer ?? userText, userText, messages);
  const text = json ?? answer ?? reply.text;
  const turn: SimulatedTurn = {
    text,
    finishReason: "stop",
    promptTokens: reply.promptTokens,
    completionTokens: text === reply.text ? reply.completionTokens : countTokens(text),
  };
  if (request.logprobs === true) turn.logprobs = simulatedLogprobs(text, request.topLogprobs ?? 0);
  return turn;
}
