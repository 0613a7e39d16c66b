import type { ChatMessage, ContentPart, ModelRequest, ToolChoice, ToolSpec } from "../providers/types.js";
import { isObject, type Json, WireError } from "./wire-error.js";

/** The Messages API's request fields: anything else is refused as Anthropic refuses it. */
const KNOWN_FIELDS = new Set([
  "model",
  "messages",
  "max_tokens",
  "system",
  "metadata",
  "stop_sequences",
  "stream",
  "temperature",
  "top_p",
  "top_k",
  "tools",
  "tool_choice",
  "thinking",
  "service_tier",
  "container",
  "mcp_servers",
  "context_management",
]);

/** A Messages API body as the simulated model's request; throws WireError naming the field. */
export function parseMessagesBody(body: Json): ModelRequest {
  for (const key of Object.keys(body)) {
    if (!KNOWN_FIELDS.has(key)) throw new WireError(`${key}: Extra inputs are not permitted`);
  }
  if (typeof body.model !== "string" || body.model === "") throw new WireError("model: Field required");
  if (!Number.isInteger(body.max_tokens) || (body.max_tokens as number) < 1) {
    throw new WireError("max_tokens: Field required");
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    throw new WireError("messages: must be a non-empty list");
  }
  if (typeof body.temperature === "number" && (body.temperature < 0 || body.temperature > 1)) {
    throw new WireError("temperature: Input should be less than or equal to 1");
  }
  const request: ModelRequest = { model: body.model, messages: [...systemMessages(body.system)] };
  body.messages.forEach((m, i) => {
    request.messages.push(...turnMessages(m, i));
  });
  const tools = parseTools(body.tools);
  if (tools) request.tools = tools;
  if (body.tool_choice !== undefined) applyToolChoice(request, body.tool_choice, tools);
  if (body.thinking !== undefined) request.thinking = parseThinking(body.thinking, body.max_tokens as number);
  if (request.thinking?.type === "enabled") {
    if (request.toolChoice === "required" || typeof request.toolChoice === "object") {
      throw new WireError("Thinking may not be enabled when tool_choice forces tool use.");
    }
    if (body.temperature !== undefined && body.temperature !== 1) {
      throw new WireError("`temperature` may only be set to 1 when thinking is enabled.");
    }
  }
  return request;
}

/** The top-level system prompt back as a system message, so the simulator counts it as the OpenAI route does. */
function systemMessages(system: unknown): ChatMessage[] {
  if (system === undefined) return [];
  if (typeof system === "string") return [{ role: "system", content: system }];
  if (!Array.isArray(system)) throw new WireError("system: must be a string or a list of text blocks");
  const text = system.map((b: { text?: unknown }) => String(b?.text ?? "")).join("\n");
  return [{ role: "system", content: text }];
}

/**
 * One Anthropic turn as neutral messages: an assistant's tool_use blocks become its tool calls,
 * a user's tool_result blocks become tool messages (before the user's own text, if any).
 */
function turnMessages(raw: unknown, i: number): ChatMessage[] {
  const m = raw as { role?: unknown; content?: unknown } | null;
  if (!m || (m.role !== "user" && m.role !== "assistant")) {
    throw new WireError(`messages.${i}.role: must be user or assistant`);
  }
  if (typeof m.content === "string") return [{ role: m.role, content: m.content }];
  if (!Array.isArray(m.content)) throw new WireError(`messages.${i}.content: Field required`);
  const parts: ContentPart[] = [];
  const out: ChatMessage[] = [];
  const calls: NonNullable<ChatMessage["toolCalls"]> = [];
  m.content.forEach((block: Json, j: number) => {
    const where = `messages.${i}.content.${j}`;
    if (block?.type === "tool_use" && m.role === "assistant") {
      if (typeof block.id !== "string" || typeof block.name !== "string" || !isObject(block.input)) {
        throw new WireError(`${where}: tool_use needs id, name and an input object`);
      }
      calls.push({ id: block.id, name: block.name, arguments: JSON.stringify(block.input) });
    } else if (block?.type === "tool_result" && m.role === "user") {
      if (typeof block.tool_use_id !== "string") throw new WireError(`${where}.tool_use_id: Field required`);
      out.push({
        role: "tool",
        toolCallId: block.tool_use_id,
        content: blocksText(block.content),
        isError: block.is_error === true,
      });
    } else if (block?.type === "text")
      parts.push({ type: "text", text: typeof block.text === "string" ? block.text : "" });
    else if (block?.type === "image") parts.push({ type: "image", mediaType: "", dataBase64: "" });
    else if (block?.type !== "thinking" && block?.type !== "redacted_thinking") {
      parts.push({ type: "text", text: `[${String(block?.type)}]` });
    }
  });
  if (m.role === "assistant")
    return [{ role: "assistant", content: parts, ...(calls.length ? { toolCalls: calls } : {}) }];
  if (parts.length > 0 || out.length === 0) out.push({ role: "user", content: parts });
  return out;
}

function blocksText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .map((b: { type?: unknown; text?: unknown }) => (b?.type === "text" ? String(b.text ?? "") : "[image]"))
    .join("\n");
}

function parseTools(raw: unknown): ToolSpec[] | undefined {
  if (raw === undefined) return undefined;
  if (!Array.isArray(raw)) throw new WireError("tools: Input should be a valid list");
  return raw.map((tool: Json, i) => {
    if (typeof tool?.name !== "string" || !/^[a-zA-Z0-9_-]{1,64}$/.test(tool.name)) {
      throw new WireError(`tools.${i}.name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'`);
    }
    if (!isObject(tool.input_schema)) throw new WireError(`tools.${i}.input_schema: Field required`);
    const spec: ToolSpec = { name: tool.name, parameters: tool.input_schema };
    if (typeof tool.description === "string") spec.description = tool.description;
    return spec;
  });
}

function applyToolChoice(request: ModelRequest, raw: unknown, tools: ToolSpec[] | undefined): void {
  const choice = raw as { type?: unknown; name?: unknown; disable_parallel_tool_use?: unknown } | null;
  let mapped: ToolChoice;
  if (choice?.type === "auto" || choice?.type === "none") mapped = choice.type;
  else if (choice?.type === "any") mapped = "required";
  else if (choice?.type === "tool" && typeof choice.name === "string") {
    if (!tools?.some((t) => t.name === choice.name)) {
      throw new WireError(`tool_choice: tool '${choice.name}' not found in tools`);
    }
    mapped = { name: choice.name };
  } else throw new WireError("tool_choice: must be {type: auto|any|tool|none}");
  if (mapped !== "none" && (!tools || tools.length === 0)) {
    throw new WireError("tool_choice: may only be specified while providing tools");
  }
  request.toolChoice = mapped;
  if (choice.disable_parallel_tool_use === true) request.parallelToolCalls = false;
}

function parseThinking(raw: unknown, maxTokens: number): ModelRequest["thinking"] {
  const thinking = raw as { type?: unknown; budget_tokens?: unknown } | null;
  if (thinking?.type === "disabled") return { type: "disabled" };
  if (thinking?.type !== "enabled" || !Number.isInteger(thinking.budget_tokens)) {
    throw new WireError("thinking: must be {type: enabled, budget_tokens} or {type: disabled}");
  }
  const budget = thinking.budget_tokens as number;
  if (budget < 1024)
    throw new WireError("thinking.budget_tokens: Input should be greater than or equal to 1024");
  if (budget >= maxTokens) throw new WireError("`max_tokens` must be greater than `thinking.budget_tokens`");
  return { type: "enabled", budgetTokens: budget };
}
