import { keyProblem } from "../../domain/wire-keys.js";
import type {
  CacheControl,
  ChatMessage,
  ContentPart,
  ThinkingBlock,
  ToolCall,
  ToolChoice,
  ToolSpec,
} from "../../providers/types.js";
import { ParamsError } from "./anthropic-params-error.js";

/**
 * Anthropic's Messages API content in the provider-neutral form: `system` blocks and text blocks
 * with `cache_control`, images, `tool_use` / `tool_result` blocks (tool calls and tool
 * messages), thinking blocks of earlier assistant turns, `tools` and `tool_choice`.
 */

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/**
 * Every key of `b` (at `at`) must be in `known`, as Anthropic refuses extra inputs; a key of
 * `refused` (one Anthropic documents that agentbatch cannot honour) is refused when set.
 */
export function checkKeys(
  b: Json,
  known: readonly string[],
  at: string,
  refused: readonly string[] = [],
): void {
  const problem = keyProblem(b, known, refused);
  if (problem === null) return;
  if (problem.kind === "unknown") {
    throw new ParamsError(`${at}.${problem.key}: Extra inputs are not permitted`);
  }
  throw new ParamsError(`${at}.${problem.key}: not supported by agentbatch (it would be dropped)`);
}

const TEXT_KEYS = ["type", "text", "cache_control"];
/** Citations change what the answer carries (cited passages): nothing here returns them. */
const TEXT_REFUSED = ["citations"];

function cacheControl(v: unknown, at: string): CacheControl | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v) || v.type !== "ephemeral")
    throw new ParamsError(`${at}.cache_control: type must be ephemeral`);
  checkKeys(v, ["type", "ttl"], `${at}.cache_control`);
  if (v.ttl !== undefined && v.ttl !== "5m" && v.ttl !== "1h")
    throw new ParamsError(`${at}.cache_control.ttl: must be 5m or 1h`);
  return v.ttl === undefined ? { type: "ephemeral" } : { type: "ephemeral", ttl: v.ttl };
}

function textPart(b: Json, at: string): ContentPart {
  checkKeys(b, TEXT_KEYS, at, TEXT_REFUSED);
  const cc = cacheControl(b.cache_control, at);
  return cc
    ? { type: "text", text: b.text as string, cacheControl: cc }
    : { type: "text", text: b.text as string };
}

/** `system` as a string or text blocks (each may carry `cache_control`); null when absent. */
export function systemMessage(system: unknown, at: string): ChatMessage | null {
  if (system === undefined || system === null) return null;
  if (typeof system === "string") return { role: "system", content: system };
  if (!Array.isArray(system)) throw new ParamsError(`${at}: must be a string or a list of text blocks`);
  const parts = system.map((b, i) => {
    if (!isObject(b) || b.type !== "text" || typeof b.text !== "string") {
      throw new ParamsError(`${at}.${i}: must be a text block`);
    }
    return textPart(b, `${at}.${i}`);
  });
  return { role: "system", content: parts };
}

function image(b: Json, at: string): ContentPart {
  const s = b.source;
  if (isObject(s) && s.type === "base64" && typeof s.media_type === "string" && typeof s.data === "string") {
    checkKeys(b, ["type", "source", "cache_control"], at);
    checkKeys(s, ["type", "media_type", "data"], `${at}.source`);
    if (b.cache_control !== undefined)
      throw new ParamsError(`${at}.cache_control: only text blocks may carry cache_control here`);
    return { type: "image", mediaType: s.media_type, dataBase64: s.data };
  }
  throw new ParamsError(
    `${at}.source: only base64 image sources are supported (agentbatch does not fetch URLs)`,
  );
}

function contentPart(b: unknown, at: string): ContentPart {
  if (isObject(b) && b.type === "text" && typeof b.text === "string") return textPart(b, at);
  if (isObject(b) && b.type === "image") return image(b, at);
  throw new ParamsError(`${at}: only text and image blocks are supported here`);
}

function toolResultContent(v: unknown, at: string): string | ContentPart[] {
  if (v === undefined) return "";
  if (typeof v === "string") return v;
  if (!Array.isArray(v))
    throw new ParamsError(`${at}.content: must be a string or a list of text and image blocks`);
  return v.map((b, i) => contentPart(b, `${at}.content.${i}`));
}

function userMessages(content: unknown[], at: string): ChatMessage[] {
  const out: ChatMessage[] = [];
  let parts: ContentPart[] = [];
  const flush = () => {
    if (parts.length > 0) out.push({ role: "user", content: parts });
    parts = [];
  };
  content.forEach((b, i) => {
    const bat = `${at}.content.${i}`;
    if (isObject(b) && b.type === "tool_result") {
      checkKeys(b, ["type", "tool_use_id", "content", "is_error", "cache_control"], bat);
      if (typeof b.tool_use_id !== "string") throw new ParamsError(`${bat}.tool_use_id: Field required`);
      if (b.cache_control !== undefined)
        throw new ParamsError(`${bat}.cache_control: only text blocks may carry cache_control here`);
      flush();
      const message: ChatMessage = {
        role: "tool",
        toolCallId: b.tool_use_id,
        content: toolResultContent(b.content, bat),
      };
      if (b.is_error === true) message.isError = true;
      out.push(message);
    } else parts.push(contentPart(b, bat));
  });
  flush();
  return out;
}

function assistantMessage(content: unknown[], at: string): ChatMessage {
  const parts: ContentPart[] = [];
  const toolCalls: ToolCall[] = [];
  const thinking: ThinkingBlock[] = [];
  content.forEach((b, i) => {
    const bat = `${at}.content.${i}`;
    if (isObject(b) && b.type === "tool_use") {
      checkKeys(b, ["type", "id", "name", "input"], bat, ["cache_control"]);
      if (typeof b.id !== "string" || typeof b.name !== "string")
        throw new ParamsError(`${bat}: tool_use needs id and name`);
      toolCalls.push({ id: b.id, name: b.name, arguments: JSON.stringify(b.input ?? {}) });
    } else if (
      isObject(b) &&
      b.type === "thinking" &&
      typeof b.thinking === "string" &&
      typeof b.signature === "string"
    ) {
      checkKeys(b, ["type", "thinking", "signature"], bat);
      thinking.push({ type: "thinking", thinking: b.thinking, signature: b.signature });
    } else if (isObject(b) && b.type === "redacted_thinking" && typeof b.data === "string") {
      checkKeys(b, ["type", "data"], bat);
      thinking.push({ type: "redacted_thinking", data: b.data });
    } else parts.push(contentPart(b, bat));
  });
  const message: ChatMessage = { role: "assistant", content: parts };
  if (toolCalls.length > 0) message.toolCalls = toolCalls;
  if (thinking.length > 0) message.thinking = thinking;
  return message;
}

/** One message: a user message with `tool_result` blocks becomes tool messages (then the rest as user content). */
export function messages(m: unknown, at: string): ChatMessage[] {
  if (!isObject(m)) throw new ParamsError(`${at}: Input should be an object`);
  if (m.role !== "user" && m.role !== "assistant")
    throw new ParamsError(`${at}.role: must be user or assistant`);
  checkKeys(m, ["role", "content"], at);
  if (typeof m.content === "string") return [{ role: m.role, content: m.content }];
  if (!Array.isArray(m.content) || m.content.length === 0) {
    throw new ParamsError(`${at}.content: must be a string or a non-empty list of content blocks`);
  }
  return m.role === "user" ? userMessages(m.content, at) : [assistantMessage(m.content, at)];
}

const TOOL_KEYS = ["type", "name", "description", "input_schema", "strict"];
/** Tool fields of Anthropic's tool-search and programmatic-calling features: nothing here runs them. */
const TOOL_REFUSED = ["input_examples", "defer_loading", "allowed_callers", "eager_input_streaming"];

/** Custom (client) tools; Anthropic's server tools cannot run through other providers and are refused. */
export function tools(v: unknown, at: string): ToolSpec[] {
  if (!Array.isArray(v)) throw new ParamsError(`${at}: must be a list`);
  return v.map((t, i) => {
    const tat = `${at}.${i}`;
    if (!isObject(t) || (t.type !== undefined && t.type !== "custom") || !isObject(t.input_schema)) {
      throw new ParamsError(
        `${tat}: only custom tools {name, description?, input_schema} are supported by agentbatch`,
      );
    }
    if (t.cache_control !== undefined) {
      throw new ParamsError(
        `${tat}.cache_control: not supported by agentbatch (put cache_control on system or message text blocks)`,
      );
    }
    checkKeys(t, TOOL_KEYS, tat, TOOL_REFUSED);
    if (typeof t.name !== "string" || !TOOL_NAME.test(t.name))
      throw new ParamsError(`${tat}.name: must match ^[a-zA-Z0-9_-]{1,64}$`);
    if (t.strict !== undefined && typeof t.strict !== "boolean")
      throw new ParamsError(`${tat}.strict: must be a boolean`);
    const spec: ToolSpec = { name: t.name, parameters: t.input_schema };
    if (typeof t.description === "string") spec.description = t.description;
    if (typeof t.strict === "boolean") spec.strict = t.strict;
    return spec;
  });
}

/** `tool_choice` → the neutral choice and whether parallel tool use is off. */
export function toolChoice(v: unknown, at: string): { choice: ToolChoice; parallel?: false } {
  if (!isObject(v)) throw new ParamsError(`${at}: must be an object`);
  checkKeys(
    v,
    v.type === "tool" ? ["type", "name", "disable_parallel_tool_use"] : ["type", "disable_parallel_tool_use"],
    at,
  );
  const parallel = v.disable_parallel_tool_use === true ? { parallel: false as const } : {};
  if (v.type === "auto" || v.type === "none") return { choice: v.type, ...parallel };
  if (v.type === "any") return { choice: "required", ...parallel };
  if (v.type === "tool" && typeof v.name === "string") return { choice: { name: v.name }, ...parallel };
  throw new ParamsError(`${at}.type: must be auto, any, tool (with name) or none`);
}
