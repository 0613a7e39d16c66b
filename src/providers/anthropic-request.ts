import { contentText } from "./text.js";
import type { ChatMessage, ContentPart, ModelRequest, ToolChoice } from "./types.js";

type Json = Record<string, unknown>;

/** Anthropic requires max_tokens; this is used when neither the agent nor the request sets it. */
export const DEFAULT_MAX_TOKENS = 1024;
/** The forced tool that carries `json_object` output (json_schema's is named after the schema). */
export const JSON_OBJECT_TOOL = "json_response";

type Block = Json & { type: string };
type Turn = { role: "user" | "assistant"; content: string | Block[] };

/**
 * The forced tool that carries structured output on Anthropic, when the request asks for it:
 * its input is the answer.
 */
export function responseToolName(request: ModelRequest): string | undefined {
  const format = request.responseFormat;
  if (format?.type === "json_schema") return format.jsonSchema.name;
  if (format?.type === "json_object") return JSON_OBJECT_TOOL;
  return undefined;
}

/**
 * Why the request cannot be translated for Anthropic, if it cannot: its structured output is a
 * forced tool, which Anthropic refuses beside thinking, and whose name must not be a real tool's;
 * thinking also needs temperature 1.
 */
export function anthropicRequestProblem(request: ModelRequest): string | undefined {
  const responseTool = responseToolName(request);
  if (responseTool && request.tools?.some((t) => t.name === responseTool)) {
    return `response_format's name "${responseTool}" is also a tool's name: Anthropic carries structured output as a tool of that name`;
  }
  if (request.thinking?.type === "enabled") {
    const choice = request.toolChoice;
    if (request.temperature !== undefined && request.temperature !== 1) {
      return "Anthropic takes thinking only with temperature 1 (or none)";
    }
    if (responseTool) return "Anthropic cannot combine thinking with response_format (a forced tool)";
    if (choice === "required" || typeof choice === "object") {
      return "Anthropic cannot combine thinking with a tool_choice that forces a tool";
    }
  }
  return undefined;
}

/**
 * The Messages API body: system messages as the top-level `system` (a string, or text blocks
 * when one carries cache_control), tool calls as `tool_use` blocks, tool results as
 * `tool_result` blocks in one user turn, structured output as a forced tool, OpenAI's tool
 * choice, `user` and `max_completion_tokens` under Anthropic's names.
 */
export function anthropicRequestBody(request: ModelRequest, stream: boolean): Json {
  const body: Json = {
    model: request.model,
    max_tokens: request.maxTokens ?? request.maxCompletionTokens ?? defaultMaxTokens(request),
    messages: toTurns(request.messages),
  };
  const system = systemField(request.messages);
  if (system !== undefined) body.system = system;
  if (request.temperature !== undefined) body.temperature = Math.min(1, request.temperature);
  if (request.topP !== undefined) body.top_p = request.topP;
  if (request.stop !== undefined && request.stop.length > 0) body.stop_sequences = request.stop;
  if (request.user !== undefined) body.metadata = { user_id: request.user };
  if (request.thinking?.type === "enabled") {
    body.thinking = { type: "enabled", budget_tokens: request.thinking.budgetTokens };
  } else if (request.thinking?.type === "disabled") body.thinking = { type: "disabled" };
  applyTools(body, request);
  if (stream) body.stream = true;
  return body;
}

function defaultMaxTokens(request: ModelRequest): number {
  return request.thinking?.type === "enabled"
    ? request.thinking.budgetTokens + DEFAULT_MAX_TOKENS
    : DEFAULT_MAX_TOKENS;
}

/** One string when no part is marked for caching (the common case), else text blocks. */
function systemField(messages: ChatMessage[]): string | Block[] | undefined {
  const system = messages.filter((m) => m.role === "system");
  if (system.length === 0) return undefined;
  const marked = system.some(
    (m) => typeof m.content !== "string" && m.content.some((p) => p.type === "text" && p.cacheControl),
  );
  if (!marked) return system.map((m) => contentText(m.content)).join("\n");
  const blocks: Block[] = [];
  for (const m of system) {
    if (typeof m.content === "string") blocks.push({ type: "text", text: m.content });
    else for (const part of m.content) if (part.type === "text") blocks.push(textBlock(part));
  }
  return blocks;
}

/** The turns: consecutive tool results merged into one user turn, as Anthropic requires. */
function toTurns(messages: ChatMessage[]): Turn[] {
  const turns: Turn[] = [];
  let results: Block[] | undefined;
  for (const m of messages) {
    if (m.role === "system") continue;
    if (m.role === "tool") {
      if (!results) {
        results = [];
        turns.push({ role: "user", content: results });
      }
      results.push(toolResultBlock(m));
      continue;
    }
    results = undefined;
    turns.push(m.role === "assistant" ? assistantTurn(m) : { role: "user", content: toBlocks(m.content) });
  }
  return turns;
}

function assistantTurn(m: ChatMessage): Turn {
  const calls = m.toolCalls ?? [];
  const thinking = m.thinking ?? [];
  if (calls.length === 0 && thinking.length === 0) return { role: "assistant", content: toBlocks(m.content) };
  const content: Block[] = thinking.map((t) => ({ ...t }));
  const text = toBlocks(m.content);
  if (typeof text === "string") {
    if (text !== "") content.push({ type: "text", text });
  } else content.push(...text.filter((b) => b.type !== "text" || b.text !== ""));
  for (const call of calls) {
    content.push({ type: "tool_use", id: call.id, name: call.name, input: toolInput(call.arguments) });
  }
  return { role: "assistant", content };
}

/** Anthropic's tool_use input is an object: arguments that are not a JSON object are sent as {}. */
function toolInput(args: string): Json {
  try {
    const value = JSON.parse(args);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value : {};
  } catch {
    return {};
  }
}

function toolResultBlock(m: ChatMessage): Block {
  const block: Block = { type: "tool_result", tool_use_id: m.toolCallId ?? "", content: toBlocks(m.content) };
  if (m.isError) block.is_error = true;
  return block;
}

function toBlocks(content: ChatMessage["content"]): string | Block[] {
  if (typeof content === "string") return content;
  return content.map((p) =>
    p.type === "text"
      ? textBlock(p)
      : { type: "image", source: { type: "base64", media_type: p.mediaType, data: p.dataBase64 } },
  );
}

function textBlock(part: Extract<ContentPart, { type: "text" }>): Block {
  const block: Block = { type: "text", text: part.text };
  if (part.cacheControl) block.cache_control = { ...part.cacheControl };
  return block;
}

/** Tools as `input_schema` tools, the structured-output tool last, and the tool choice. */
function applyTools(body: Json, request: ModelRequest): void {
  const responseTool = responseToolName(request);
  const userTools = request.toolChoice === "none" && responseTool ? [] : (request.tools ?? []);
  const tools: Json[] = userTools.map((t) => {
    const tool: Json = { name: t.name, input_schema: t.parameters };
    if (t.description !== undefined) tool.description = t.description;
    if (t.strict !== undefined) tool.strict = t.strict;
    return tool;
  });
  if (responseTool) tools.push(responseToolSpec(request, responseTool));
  if (tools.length > 0) body.tools = tools;
  const choice = toolChoice(request.toolChoice, responseTool, userTools.length > 0);
  if (choice === undefined) {
    if (request.parallelToolCalls === false && tools.length > 0) {
      body.tool_choice = { type: "auto", disable_parallel_tool_use: true };
    }
    return;
  }
  // With structured output beside real tools, one call at a time: never an answer and a tool call at once.
  if (
    (request.parallelToolCalls === false || (responseTool && userTools.length > 0)) &&
    choice.type !== "none"
  ) {
    choice.disable_parallel_tool_use = true;
  }
  body.tool_choice = choice;
}

function responseToolSpec(request: ModelRequest, name: string): Json {
  const format = request.responseFormat;
  if (format?.type === "json_schema") {
    return {
      name,
      description:
        format.jsonSchema.description ?? "Give the answer as this tool's input, matching its schema.",
      input_schema: format.jsonSchema.schema,
    };
  }
  return {
    name,
    description: "Give the answer as this tool's input: a JSON object.",
    input_schema: { type: "object", additionalProperties: true },
  };
}

/**
 * OpenAI's tool choice in Anthropic's terms (`required` is `any`). With structured output the
 * answer tool is forced, or, beside real tools, any tool must be called (a real one, or the
 * answer); a named tool stays forced.
 */
function toolChoice(
  choice: ToolChoice | undefined,
  responseTool: string | undefined,
  hasUserTools: boolean,
): Block | undefined {
  if (typeof choice === "object") return { type: "tool", name: choice.name };
  if (responseTool) return hasUserTools ? { type: "any" } : { type: "tool", name: responseTool };
  if (choice === undefined) return undefined;
  if (choice === "required") return { type: "any" };
  return { type: choice };
}
