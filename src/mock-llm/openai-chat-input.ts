import type {
  ChatMessage,
  ContentPart,
  ModelRequest,
  ResponseFormat,
  ToolCall,
  ToolChoice,
  ToolSpec,
} from "../providers/types.js";
import { isObject, type Json, WireError } from "./wire-error.js";

/**
 * The request fields OpenAI's chat completions accept: anything else is refused as OpenAI
 * refuses it ("Unrecognized request argument"), so a provider that sends a field it should
 * have translated or refused is caught by its tests.
 */
const KNOWN_FIELDS = new Set([
  "model",
  "messages",
  "audio",
  "frequency_penalty",
  "function_call",
  "functions",
  "logit_bias",
  "logprobs",
  "max_completion_tokens",
  "max_tokens",
  "metadata",
  "modalities",
  "n",
  "parallel_tool_calls",
  "prediction",
  "presence_penalty",
  "prompt_cache_key",
  "prompt_cache_retention",
  "reasoning_effort",
  "response_format",
  "safety_identifier",
  "seed",
  "service_tier",
  "stop",
  "store",
  "stream",
  "stream_options",
  "temperature",
  "tool_choice",
  "tools",
  "top_logprobs",
  "top_p",
  "user",
  "verbosity",
  "web_search_options",
]);

/** A chat completions body as the simulated model's request; throws WireError naming the param. */
export function parseChatCompletionBody(body: Json): ModelRequest {
  for (const key of Object.keys(body)) {
    if (!KNOWN_FIELDS.has(key)) throw new WireError(`Unrecognized request argument supplied: ${key}`, key);
  }
  if (typeof body.model !== "string" || body.model === "") {
    throw new WireError("you must provide a model parameter", "model");
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    throw new WireError("'messages' must be a non-empty array", "messages");
  }
  const request: ModelRequest = {
    model: body.model,
    messages: body.messages.map((m, i) => chatMessage(m, `messages.${i}`)),
  };
  const tools = parseTools(body.tools);
  if (tools) request.tools = tools;
  if (body.tool_choice !== undefined && body.tool_choice !== null) {
    request.toolChoice = parseToolChoice(body.tool_choice, tools);
  }
  if (body.parallel_tool_calls === false) request.parallelToolCalls = false;
  if (body.response_format !== undefined && body.response_format !== null) {
    request.responseFormat = parseResponseFormat(body.response_format);
  }
  if (body.top_logprobs !== undefined && body.top_logprobs !== null) {
    if (body.logprobs !== true)
      throw new WireError("top_logprobs requires logprobs to be true", "top_logprobs");
    if (
      !Number.isInteger(body.top_logprobs) ||
      (body.top_logprobs as number) < 0 ||
      (body.top_logprobs as number) > 20
    ) {
      throw new WireError("top_logprobs must be an integer from 0 to 20", "top_logprobs");
    }
    request.topLogprobs = body.top_logprobs as number;
  }
  if (body.logprobs === true) request.logprobs = true;
  return request;
}

function chatMessage(raw: unknown, param: string): ChatMessage {
  if (!isObject(raw) || typeof raw.role !== "string") {
    throw new WireError(`'${param}' must be an object with a role`, param);
  }
  const content = raw.content;
  if (content !== undefined && content !== null && typeof content !== "string" && !Array.isArray(content)) {
    throw new WireError(`'${param}.content' must be a string or an array`, `${param}.content`);
  }
  const role = raw.role === "developer" ? "system" : (raw.role as ChatMessage["role"]);
  const message: ChatMessage = { role, content: toContent(content) };
  if (role === "tool") {
    if (typeof raw.tool_call_id !== "string" || raw.tool_call_id === "") {
      throw new WireError(`'${param}.tool_call_id' is required for tool messages`, `${param}.tool_call_id`);
    }
    message.toolCallId = raw.tool_call_id;
  }
  if (role === "assistant" && Array.isArray(raw.tool_calls) && raw.tool_calls.length > 0) {
    message.toolCalls = raw.tool_calls.map((c, i) => toolCall(c, `${param}.tool_calls.${i}`));
  }
  return message;
}

function toolCall(raw: unknown, param: string): ToolCall {
  const fn = isObject(raw) ? raw.function : undefined;
  if (!isObject(raw) || typeof raw.id !== "string" || !isObject(fn) || typeof fn.name !== "string") {
    throw new WireError(`'${param}' must be {id, type: "function", function: {name, arguments}}`, param);
  }
  return { id: raw.id, name: fn.name, arguments: typeof fn.arguments === "string" ? fn.arguments : "" };
}

/** OpenAI's content parts in the simulator's terms; only their text matters to it. */
function toContent(content: unknown): string | ContentPart[] {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.map((part: { type?: unknown; text?: unknown }): ContentPart => {
    if (part?.type === "text") return { type: "text", text: typeof part.text === "string" ? part.text : "" };
    if (part?.type === "image_url") return { type: "image", mediaType: "", dataBase64: "" };
    return { type: "text", text: `[${String(part?.type)}]` };
  });
}

function parseTools(raw: unknown): ToolSpec[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) throw new WireError("'tools' must be an array", "tools");
  return raw.map((tool, i) => {
    const fn = isObject(tool) ? tool.function : undefined;
    if (!isObject(tool) || tool.type !== "function" || !isObject(fn) || typeof fn.name !== "string") {
      throw new WireError(
        `'tools.${i}' must be {type: "function", function: {name, parameters}}`,
        `tools.${i}`,
      );
    }
    if (!/^[a-zA-Z0-9_-]{1,64}$/.test(fn.name)) {
      throw new WireError(
        `'tools.${i}.function.name' must match ^[a-zA-Z0-9_-]{1,64}$`,
        `tools.${i}.function.name`,
      );
    }
    const spec: ToolSpec = { name: fn.name, parameters: isObject(fn.parameters) ? fn.parameters : {} };
    if (typeof fn.description === "string") spec.description = fn.description;
    return spec;
  });
}

function parseToolChoice(raw: unknown, tools: ToolSpec[] | undefined): ToolChoice {
  if (!tools || tools.length === 0) {
    throw new WireError("'tool_choice' is only allowed when 'tools' are specified", "tool_choice");
  }
  if (raw === "auto" || raw === "none" || raw === "required") return raw;
  const fn = isObject(raw) ? raw.function : undefined;
  if (isObject(raw) && raw.type === "function" && isObject(fn) && typeof fn.name === "string") {
    if (!tools.some((t) => t.name === fn.name)) {
      throw new WireError(`tool_choice names '${fn.name}', which is not in tools`, "tool_choice");
    }
    return { name: fn.name };
  }
  throw new WireError(
    "'tool_choice' must be auto, none, required or {type: \"function\", function: {name}}",
    "tool_choice",
  );
}

function parseResponseFormat(raw: unknown): ResponseFormat {
  if (isObject(raw) && (raw.type === "text" || raw.type === "json_object")) return { type: raw.type };
  const spec = isObject(raw) ? raw.json_schema : undefined;
  if (isObject(raw) && raw.type === "json_schema") {
    if (!isObject(spec) || typeof spec.name !== "string") {
      throw new WireError(
        "'response_format.json_schema.name' is required",
        "response_format.json_schema.name",
      );
    }
    return {
      type: "json_schema",
      jsonSchema: {
        name: spec.name,
        schema: isObject(spec.schema) ? spec.schema : {},
        strict: spec.strict === true,
      },
    };
  }
  throw new WireError(
    "'response_format.type' must be text, json_object or json_schema",
    "response_format.type",
  );
}
