import { contentText } from "./text.js";
import type { ChatMessage, ModelRequest, ResponseFormat, ToolChoice, ToolSpec } from "./types.js";

type Json = Record<string, unknown>;

type OpenAIContent =
  | string
  | null
  | Array<
      | { type: "text"; text: string }
      | { type: "image_url"; image_url: { url: string; detail?: "low" | "high" } }
    >;

/** Scalar fields sent under OpenAI's own names when set. */
const SCALAR_FIELDS = [
  ["temperature", "temperature"],
  ["maxTokens", "max_tokens"],
  ["maxCompletionTokens", "max_completion_tokens"],
  ["topP", "top_p"],
  ["parallelToolCalls", "parallel_tool_calls"],
  ["seed", "seed"],
  ["frequencyPenalty", "frequency_penalty"],
  ["presencePenalty", "presence_penalty"],
  ["logprobs", "logprobs"],
  ["topLogprobs", "top_logprobs"],
  ["user", "user"],
  ["metadata", "metadata"],
  ["reasoningEffort", "reasoning_effort"],
] as const satisfies readonly (readonly [keyof ModelRequest, string])[];

/**
 * The chat completions body of a request: every field under OpenAI's name (tools as functions,
 * tool results as `tool` messages, response_format with its json_schema). Thinking is refused
 * before this is called (capabilities.ts); cache_control markers are not sent (OpenAI caches
 * prompt prefixes on its own).
 */
export function openAIRequestBody(request: ModelRequest, stream: boolean): Json {
  const body: Json = { model: request.model, messages: request.messages.map(toOpenAIMessage) };
  for (const [field, name] of SCALAR_FIELDS) {
    if (request[field] !== undefined) body[name] = request[field];
  }
  if (request.stop !== undefined && request.stop.length > 0) body.stop = request.stop;
  if (request.tools !== undefined && request.tools.length > 0) body.tools = request.tools.map(toOpenAITool);
  if (request.toolChoice !== undefined) body.tool_choice = toOpenAIToolChoice(request.toolChoice);
  if (request.responseFormat !== undefined)
    body.response_format = toOpenAIResponseFormat(request.responseFormat);
  if (stream) {
    body.stream = true;
    body.stream_options = { include_usage: true };
  }
  return body;
}

export function toOpenAITool(tool: ToolSpec): Json {
  const fn: Json = { name: tool.name, parameters: tool.parameters };
  if (tool.description !== undefined) fn.description = tool.description;
  if (tool.strict !== undefined) fn.strict = tool.strict;
  return { type: "function", function: fn };
}

export function toOpenAIToolChoice(choice: ToolChoice): unknown {
  return typeof choice === "string" ? choice : { type: "function", function: { name: choice.name } };
}

export function toOpenAIResponseFormat(format: ResponseFormat): Json {
  if (format.type !== "json_schema") return { type: format.type };
  const { name, schema, strict, description } = format.jsonSchema;
  const jsonSchema: Json = { name, schema };
  if (strict !== undefined) jsonSchema.strict = strict;
  if (description !== undefined) jsonSchema.description = description;
  return { type: "json_schema", json_schema: jsonSchema };
}

/** One message in OpenAI's shape: assistant tool calls as `tool_calls`, tool results as `tool` messages. */
export function toOpenAIMessage(message: ChatMessage): Json {
  if (message.role === "tool") {
    const text = contentText(message.content);
    return {
      role: "tool",
      tool_call_id: message.toolCallId ?? "",
      // OpenAI has no error flag on tool results: the content says it.
      content: message.isError ? `Error: ${text}` : text,
    };
  }
  const out: Json = { role: message.role, content: toOpenAIContent(message.content) };
  if (message.role === "assistant" && message.toolCalls !== undefined && message.toolCalls.length > 0) {
    out.tool_calls = message.toolCalls.map((call) => ({
      id: call.id,
      type: "function",
      function: { name: call.name, arguments: call.arguments },
    }));
    if (out.content === "") out.content = null;
  }
  return out;
}

function toOpenAIContent(content: ChatMessage["content"]): OpenAIContent {
  if (typeof content === "string") return content;
  return content.map((part) =>
    part.type === "text"
      ? { type: "text" as const, text: part.text }
      : {
          type: "image_url" as const,
          image_url:
            part.detail === undefined
              ? { url: `data:${part.mediaType};base64,${part.dataBase64}` }
              : { url: `data:${part.mediaType};base64,${part.dataBase64}`, detail: part.detail },
        },
  );
}
