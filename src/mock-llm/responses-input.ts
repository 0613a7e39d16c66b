import type {
  ChatMessage,
  ContentPart,
  ModelRequest,
  ResponseFormat,
  ToolChoice,
  ToolSpec,
} from "../providers/types.js";
import { isObject, type Json, WireError } from "./wire-error.js";

/** The Responses API's request fields: anything else is refused as OpenAI refuses it. */
const KNOWN_FIELDS = new Set([
  "model",
  "input",
  "instructions",
  "tools",
  "tool_choice",
  "parallel_tool_calls",
  "text",
  "max_output_tokens",
  "max_tool_calls",
  "temperature",
  "top_p",
  "top_logprobs",
  "metadata",
  "user",
  "safety_identifier",
  "prompt_cache_key",
  "reasoning",
  "store",
  "truncation",
  "include",
  "service_tier",
  "background",
  "stream",
  "previous_response_id",
  "conversation",
]);

/**
 * A Responses API request as the simulated model's request: `instructions` as the system
 * message, `input` (a string, or message / function_call / function_call_output items) as
 * the conversation, function tools, `text.format` as the response format.
 */
export function parseResponsesBody(body: Json): ModelRequest {
  for (const key of Object.keys(body)) {
    if (!KNOWN_FIELDS.has(key)) throw new WireError(`Unknown parameter: '${key}'.`, key);
  }
  if (typeof body.model !== "string" || body.model === "")
    throw new WireError("Missing required parameter: 'model'.", "model");
  if (body.stream === true) throw new WireError("The mock does not stream Responses.", "stream");
  for (const stateful of ["previous_response_id", "conversation"]) {
    if (body[stateful] !== undefined && body[stateful] !== null) {
      throw new WireError(`The mock keeps no responses: '${stateful}' is not supported.`, stateful);
    }
  }
  const messages: ChatMessage[] = [];
  if (typeof body.instructions === "string") messages.push({ role: "system", content: body.instructions });
  messages.push(...inputMessages(body.input));
  const request: ModelRequest = { model: body.model, messages };
  const tools = parseTools(body.tools);
  if (tools) request.tools = tools;
  if (body.tool_choice !== undefined && body.tool_choice !== null)
    request.toolChoice = parseToolChoice(body.tool_choice);
  if (body.parallel_tool_calls === false) request.parallelToolCalls = false;
  const format = isObject(body.text) ? body.text.format : undefined;
  if (format !== undefined) request.responseFormat = parseFormat(format);
  return request;
}

function inputMessages(input: unknown): ChatMessage[] {
  if (typeof input === "string") return [{ role: "user", content: input }];
  if (!Array.isArray(input) || input.length === 0) {
    throw new WireError("Missing required parameter: 'input'.", "input");
  }
  const out: ChatMessage[] = [];
  input.forEach((item: Json, i) => {
    const param = `input[${i}]`;
    if (!isObject(item)) throw new WireError(`Invalid value for '${param}'.`, param);
    if (item.type === "function_call") {
      if (typeof item.call_id !== "string" || typeof item.name !== "string") {
        throw new WireError(`'${param}' needs call_id and name.`, param);
      }
      const call = { id: item.call_id, name: item.name, arguments: String(item.arguments ?? "") };
      const last = out.at(-1);
      if (last?.role === "assistant" && last.toolCalls) last.toolCalls.push(call);
      else out.push({ role: "assistant", content: "", toolCalls: [call] });
    } else if (item.type === "function_call_output") {
      if (typeof item.call_id !== "string")
        throw new WireError(`'${param}.call_id' is required.`, `${param}.call_id`);
      out.push({ role: "tool", toolCallId: item.call_id, content: outputText(item.output) });
    } else if (item.type === undefined || item.type === "message") out.push(message(item, param));
    else
      throw new WireError(
        `The mock does not support input items of type '${String(item.type)}'.`,
        `${param}.type`,
      );
  });
  return out;
}

function message(item: Json, param: string): ChatMessage {
  const role = item.role === "developer" ? "system" : item.role;
  if (role !== "user" && role !== "assistant" && role !== "system") {
    throw new WireError(`Invalid value for '${param}.role'.`, `${param}.role`);
  }
  if (typeof item.content === "string") return { role, content: item.content };
  if (!Array.isArray(item.content))
    throw new WireError(`'${param}.content' is required.`, `${param}.content`);
  const parts = item.content.map((p: Json): ContentPart => {
    if (p?.type === "input_text" || p?.type === "output_text")
      return { type: "text", text: String(p.text ?? "") };
    if (p?.type === "input_image") return { type: "image", mediaType: "", dataBase64: "" };
    return { type: "text", text: `[${String(p?.type)}]` };
  });
  return { role, content: parts };
}

function outputText(output: unknown): string {
  if (typeof output === "string") return output;
  if (Array.isArray(output)) return output.map((p: Json) => String(p?.text ?? "")).join("\n");
  return JSON.stringify(output ?? "");
}

function parseTools(raw: unknown): ToolSpec[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) throw new WireError("Invalid type for 'tools'.", "tools");
  return raw.map((tool: Json, i) => {
    if (tool?.type !== "function" || typeof tool.name !== "string") {
      throw new WireError(`The mock serves function tools only: 'tools[${i}]'.`, `tools[${i}]`);
    }
    const spec: ToolSpec = { name: tool.name, parameters: isObject(tool.parameters) ? tool.parameters : {} };
    if (typeof tool.description === "string") spec.description = tool.description;
    return spec;
  });
}

function parseToolChoice(raw: unknown): ToolChoice {
  if (raw === "auto" || raw === "none" || raw === "required") return raw;
  if (isObject(raw) && raw.type === "function" && typeof raw.name === "string") return { name: raw.name };
  throw new WireError("Invalid value for 'tool_choice'.", "tool_choice");
}

function parseFormat(raw: unknown): ResponseFormat {
  if (isObject(raw) && (raw.type === "text" || raw.type === "json_object")) return { type: raw.type };
  if (isObject(raw) && raw.type === "json_schema" && typeof raw.name === "string") {
    const schema = isObject(raw.schema) ? raw.schema : {};
    return { type: "json_schema", jsonSchema: { name: raw.name, schema, strict: raw.strict === true } };
  }
  throw new WireError("Invalid value for 'text.format'.", "text.format");
}
