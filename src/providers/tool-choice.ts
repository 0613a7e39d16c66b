import { sampleFromSchema } from "./schema-sample.js";
import { contentText } from "./text.js";
import type { ChatMessage, ModelRequest, ToolCall, ToolSpec } from "./types.js";

/**
 * The simulated model's tool use, shared by the simulated provider and mock-llm so that both
 * call the same tools with the same arguments:
 * - with tools and no tool result yet in the turn (after the last user message), it calls the
 *   tools the user message names (every one, or the first with `parallelToolCalls: false`), or
 *   the first tool when it names none; `toolChoice: {name}` calls that tool, `none` calls none;
 * - arguments come from the tool's JSON Schema (`sampleFromSchema`: required fields filled,
 *   strings from the user message, enums their first value);
 * - after the results it answers, quoting them (`quoteToolResults`); `required` keeps calling
 *   the tools not yet called in this turn, then answers (a simulator must end its turns);
 * - `[invalid-args]` in the user message (or `[invalid-args:always]` in any user message) makes
 *   the arguments invalid JSON, so that argument repair can be tested; a forced tool (how
 *   Anthropic carries structured output) takes `[invalid-json]` the same way.
 */
export function simulateToolCalls(
  request: Pick<ModelRequest, "messages" | "tools" | "toolChoice" | "parallelToolCalls">,
  idPrefix = "call_",
): ToolCall[] | undefined {
  const tools = request.tools ?? [];
  const choice = request.toolChoice ?? "auto";
  if (tools.length === 0 || choice === "none") return undefined;
  const turn = currentTurn(request.messages);
  const chosen = chooseTools(tools, choice, turn, request.parallelToolCalls !== false);
  if (chosen.length === 0) return undefined;
  const invalid =
    hasMarker(turn.userText, request.messages, "invalid-args") ||
    (typeof choice === "object" && hasMarker(turn.userText, request.messages, "invalid-json"));
  return chosen.map((tool, i) => {
    const args = JSON.stringify(sampleFromSchema(tool.parameters, { text: turn.userText }));
    const seed = `${request.messages.length}|${tool.name}|${i}|${turn.userText}`;
    return {
      id: `${idPrefix}${stableId(seed)}`,
      name: tool.name,
      arguments: invalid ? args.slice(0, -1) : args,
    };
  });
}

/** What the current turn (from the last user message on) has said. */
interface Turn {
  userText: string;
  /** Tool names already called in this turn. */
  called: Set<string>;
  results: number;
}

function currentTurn(messages: ChatMessage[]): Turn {
  const turn: Turn = { userText: "", called: new Set(), results: 0 };
  for (const m of messages) {
    if (m.role === "user") {
      turn.userText = contentText(m.content);
      turn.called.clear();
      turn.results = 0;
    } else if (m.role === "tool") turn.results++;
    else if (m.role === "assistant") for (const call of m.toolCalls ?? []) turn.called.add(call.name);
  }
  return turn;
}

function chooseTools(
  tools: ToolSpec[],
  choice: Exclude<ModelRequest["toolChoice"], undefined>,
  turn: Turn,
  parallel: boolean,
): ToolSpec[] {
  if (typeof choice === "object") {
    const named = tools.find((t) => t.name === choice.name);
    return named ? [named] : [];
  }
  if (turn.results > 0) {
    if (choice !== "required") return [];
    const next = tools.find((t) => !turn.called.has(t.name));
    return next ? [next] : [];
  }
  const text = turn.userText.toLowerCase();
  const named = tools.filter((t) => mentions(text, t.name.toLowerCase()));
  if (named.length === 0) return [tools[0]];
  return parallel ? named : [named[0]];
}

/** `name` appears in `text` as a whole word (tool names hold letters, digits, `_` and `-`). */
function mentions(text: string, name: string): boolean {
  let at = text.indexOf(name);
  while (at !== -1) {
    const before = at === 0 ? "" : text[at - 1];
    const after = text[at + name.length] ?? "";
    if (!isNameChar(before) && !isNameChar(after)) return true;
    at = text.indexOf(name, at + 1);
  }
  return false;
}

function isNameChar(c: string): boolean {
  return c !== "" && /[a-z0-9_-]/i.test(c);
}

/** A quoted tool result is cut here so that a large result does not flood the answer. */
const QUOTED_RESULT_CHARS = 200;

/**
 * The results of the current turn's tool calls, quoted: ` [get_weather: {"temp":21}]`, or
 * ` [lookup failed: not found]`; "" when the turn has none.
 */
export function quoteToolResults(messages: ChatMessage[]): string {
  const names = new Map<string, string>();
  let quoted: string[] = [];
  for (const m of messages) {
    if (m.role === "user") quoted = [];
    else if (m.role === "assistant") for (const call of m.toolCalls ?? []) names.set(call.id, call.name);
    else if (m.role === "tool") {
      const name = names.get(m.toolCallId ?? "") ?? "tool";
      let text = contentText(m.content);
      if (text.length > QUOTED_RESULT_CHARS) text = `${text.slice(0, QUOTED_RESULT_CHARS)}…`;
      quoted.push(m.isError ? ` [${name} failed: ${text}]` : ` [${name}: ${text}]`);
    }
  }
  return quoted.join("");
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

/** 24 base-36 characters from FNV-1a hashes of the text: the same call gets the same id. */
function stableId(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  const part = (n: number) => (n >>> 0).toString(36).padStart(7, "0");
  return `${part(a)}${part(b)}${part(a ^ b)}${part(Math.imul(a, 31) + b)}`.slice(0, 24);
}
