/**
 * How the simulated model uses tools, deterministically, so that tests, the demo and benches run
 * the agent loop offline (the built-in simulated provider and `agentbatch mock-llm` both use it):
 *
 * - with tools offered and no tool result yet in the turn (the messages after the last user
 *   message), it calls the tools the user message names (by name, case-insensitive), or the first
 *   tool when it names none (or the one `toolChoice` names), with arguments built from each tool's
 *   JSON Schema (required fields filled, strings from the message, enums their first value);
 *   `parallelToolCalls: false` keeps only the first;
 * - once the turn has tool results, it answers quoting them; under `toolChoice: "required"` it
 *   first calls each offered tool not yet called in the turn (how Anthropic's structured output
 *   beside real tools reaches the answer tool), then answers;
 * - `[invalid-args]` in the user message (or `[invalid-args:always]` in any user message) makes
 *   the arguments invalid JSON, so that argument repair can be tested; a forced tool (how
 *   Anthropic carries structured output) takes `[invalid-json]` the same way.
 */
import { sampleFromSchema } from "./schema-sample.js";
import { contentText } from "./text.js";
import type { ChatMessage, ToolCall, ToolChoice, ToolSpec } from "./types.js";

export type SimulatedToolUse = { kind: "call"; calls: ToolCall[] } | { kind: "answer"; text: string };

/** The turn being answered: the last user message and what followed it. */
function currentTurn(messages: ChatMessage[]): { userText: string; after: ChatMessage[] } {
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i].role === "user") {
      return { userText: contentText(messages[i].content), after: messages.slice(i + 1) };
    }
  }
  return { userText: "", after: messages };
}

/** Tools the message names, in the order they are offered; else the first. */
function chosenTools(tools: ToolSpec[], userText: string, choice: ToolChoice | undefined): ToolSpec[] {
  if (typeof choice === "object") return tools.filter((t) => t.name === choice.name).slice(0, 1);
  const text = userText.toLowerCase();
  const named = tools.filter((t) => text.includes(t.name.toLowerCase()));
  return named.length > 0 ? named : tools.slice(0, 1);
}

/** The answer once the tools answered: the user's message echoed, then each tool's result. */
function quoteResults(userText: string, after: ChatMessage[]): string {
  const names = new Map<string, string>();
  for (const m of after) for (const c of m.toolCalls ?? []) names.set(c.id, c.name);
  const lines = after
    .filter((m) => m.role === "tool")
    .map((m) => {
      const name = names.get(m.toolCallId ?? "") ?? "tool";
      return `${name}${m.isError ? " (error)" : ""}: ${contentText(m.content)}`;
    });
  return `Echo: ${userText}\nTool results:\n${lines.join("\n")}`;
}

/** Under `required`, after results: the first offered tool not yet called in the turn. */
function untriedTool(tools: ToolSpec[], after: ChatMessage[]): ToolSpec | undefined {
  const called = new Set<string>();
  for (const m of after) for (const c of m.toolCalls ?? []) called.add(c.name);
  return tools.find((t) => !called.has(t.name));
}

/**
 * What the simulated model does with the tools of one call, or null when it uses none (no tools,
 * or `toolChoice: "none"`): it answers as without tools then.
 */
export function simulateToolUse(
  messages: ChatMessage[],
  tools: ToolSpec[] | undefined,
  toolChoice?: ToolChoice,
  parallelToolCalls?: boolean,
): SimulatedToolUse | null {
  if (!tools || tools.length === 0 || toolChoice === "none") return null;
  const { userText, after } = currentTurn(messages);
  let picked: ToolSpec[];
  if (after.some((m) => m.role === "tool")) {
    const next = toolChoice === "required" ? untriedTool(tools, after) : undefined;
    if (!next) return { kind: "answer", text: quoteResults(userText, after) };
    picked = [next];
  } else picked = chosenTools(tools, userText, toolChoice);
  if (parallelToolCalls === false) picked = picked.slice(0, 1);
  if (picked.length === 0) return null;
  const invalid =
    hasMarker(userText, messages, "invalid-args") ||
    (typeof toolChoice === "object" && hasMarker(userText, messages, "invalid-json"));
  const earlier = messages.reduce((sum, m) => sum + (m.toolCalls?.length ?? 0), 0);
  const calls = picked.map((t, i) => {
    const args = JSON.stringify(sampleFromSchema(t.parameters, { text: userText }) ?? {});
    return { id: `call_sim_${earlier + i}`, name: t.name, arguments: invalid ? args.slice(0, -1) : args };
  });
  return { kind: "call", calls };
}

/**
 * Whether `[marker]` is in the last user message, or `[marker:always]` in any user message
 * (so that a repair step, which adds a user message, still gets an invalid answer).
 */
export function hasMarker(lastUserText: string, messages: ChatMessage[], marker: string): boolean {
  if (lastUserText.includes(`[${marker}]`)) return true;
  const always = `[${marker}:always]`;
  return messages.some((m) => m.role === "user" && contentText(m.content).includes(always));
}
