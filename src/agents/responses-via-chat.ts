import { keyProblem } from "../domain/wire-keys.js";
import { functionCallItem, responseObject } from "../providers/response-object.js";
import type {
  ChatMessage,
  ContentPart,
  ModelRequest,
  ModelSuccess,
  ReasoningEffort,
  ResponseFormat,
  ToolChoice,
  ToolSpec,
} from "../providers/types.js";

/**
 * A Responses API request mapped onto a chat completion, for providers without `/responses`
 * (Anthropic, the simulated model), and the chat answer mapped back onto a Response object:
 * `instructions` → system message, `input` items → messages (`function_call` /
 * `function_call_output` → tool calls / tool messages), function `tools`, `tool_choice`,
 * `text.format` → `responseFormat`, `reasoning.effort` → `reasoningEffort`, `max_output_tokens`
 * → `maxTokens`. What has no chat counterpart is refused naming the field.
 */

type Json = Record<string, unknown>;
type Mapped = { ok: true; request: ModelRequest } | { ok: false; message: string };

class MappingError extends Error {}

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const isSet = (v: unknown): boolean => v !== undefined && v !== null;
/** `id` and `status` of an item copied from an earlier Response identify it; they ask nothing of the answer. */
const ITEM_BOOKKEEPING = ["type", "id", "status"];

const NO_COUNTERPART =
  "not supported on this provider (it has no /v1/responses, and the field has no chat-completions counterpart)";

/**
 * Every key of `obj` (at `at`) must be one the mapping reads; a key of `refused` (a Responses
 * field with no chat counterpart) is refused when set, never dropped.
 */
function checkKeys(obj: Json, known: readonly string[], at: string, refused: readonly string[] = []): void {
  const problem = keyProblem(obj, known, refused);
  if (problem === null) return;
  const path = `${at}.${problem.key}`;
  if (problem.kind === "unknown") throw new MappingError(`Unrecognized request argument supplied: ${path}`);
  throw new MappingError(`${path}: ${NO_COUNTERPART}`);
}

/**
 * Fields a chat completion cannot carry: accepted only with a value that asks for nothing (so a
 * body written for OpenAI with `store: false` runs); any other value is refused naming the field,
 * since what it asks (a stored Response, truncation, extra output) would not happen.
 */
const NO_OP_VALUES: Record<string, (v: unknown) => boolean> = {
  model: () => true,
  store: (v) => v === false,
  truncation: (v) => v === "disabled",
  service_tier: (v) => v === "auto" || v === "default",
  include: (v) => Array.isArray(v) && v.length === 0,
  prompt_cache_key: () => false,
};

export function chatRequestOfResponses(body: Json, model: string): Mapped {
  try {
    return { ok: true, request: mapRequest(body, model) };
  } catch (err) {
    if (err instanceof MappingError) return { ok: false, message: err.message };
    throw err;
  }
}

const FIELD_MAPPERS: Record<string, (request: ModelRequest, value: unknown) => void> = {
  input: () => {},
  instructions: () => {},
  tools: (r, v) => {
    r.tools = tools(v);
  },
  tool_choice: (r, v) => {
    r.toolChoice = toolChoice(v);
  },
  parallel_tool_calls: (r, v) => {
    if (v === false) r.parallelToolCalls = false;
  },
  text: (r, v) => {
    if (!isObject(v)) throw new MappingError("body.text: must be an object");
    checkKeys(v, ["format"], "body.text", ["verbosity"]);
    if (isSet(v.format)) r.responseFormat = format(v.format);
  },
  max_output_tokens: (r, v) => {
    r.maxTokens = positiveInt(v, "max_output_tokens");
  },
  temperature: (r, v) => {
    r.temperature = number(v, "temperature");
  },
  top_p: (r, v) => {
    r.topP = number(v, "top_p");
  },
  user: (r, v) => {
    r.user = string(v, "user");
  },
  safety_identifier: (r, v) => {
    r.user = string(v, "safety_identifier");
  },
  // As on a chat-completions line: any object, `{}` too, is the request's metadata, so a
  // provider that cannot carry metadata refuses it by name rather than the mapping dropping it.
  metadata: (r, v) => {
    if (!isObject(v) || Object.values(v).some((x) => typeof x !== "string")) {
      throw new MappingError("body.metadata: must be an object of strings");
    }
    r.metadata = v as Record<string, string>;
  },
  reasoning: (r, v) => {
    if (!isObject(v)) throw new MappingError("body.reasoning: must be an object");
    checkKeys(v, ["effort"], "body.reasoning", ["summary", "generate_summary"]);
    if (typeof v.effort === "string") r.reasoningEffort = v.effort as ReasoningEffort;
  },
};

function mapRequest(body: Json, model: string): ModelRequest {
  const messages: ChatMessage[] = [];
  if (typeof body.instructions === "string") messages.push({ role: "system", content: body.instructions });
  messages.push(...inputMessages(body.input));
  const request: ModelRequest = { model, messages };
  for (const [key, value] of Object.entries(body)) {
    if (value === undefined || value === null) continue;
    if (Object.hasOwn(NO_OP_VALUES, key)) {
      if (NO_OP_VALUES[key](value)) continue;
      throw new MappingError(
        `body.${key}: ${JSON.stringify(value)} is not supported on this provider (it has no /v1/responses, and a chat completion cannot do what it asks)`,
      );
    }
    const mapper = FIELD_MAPPERS[key];
    if (!mapper) {
      throw new MappingError(`body.${key}: ${NO_COUNTERPART}`);
    }
    mapper(request, value);
  }
  return request;
}

function positiveInt(v: unknown, field: string): number {
  if (!Number.isInteger(v) || (v as number) < 1)
    throw new MappingError(`body.${field}: must be a positive integer`);
  return v as number;
}

function string(v: unknown, field: string): string {
  if (typeof v !== "string") throw new MappingError(`body.${field}: must be a string`);
  return v;
}

function number(v: unknown, field: string): number {
  if (typeof v !== "number") throw new MappingError(`body.${field}: must be a number`);
  return v;
}

function inputMessages(input: unknown): ChatMessage[] {
  if (typeof input === "string") return [{ role: "user", content: input }];
  if (!Array.isArray(input) || input.length === 0) {
    throw new MappingError("body.input: must be a string or a non-empty list of items");
  }
  const out: ChatMessage[] = [];
  input.forEach((item: unknown, i) => {
    const at = `body.input[${i}]`;
    if (!isObject(item)) throw new MappingError(`${at}: must be an object`);
    if (item.type === "function_call") {
      checkKeys(item, [...ITEM_BOOKKEEPING, "call_id", "name", "arguments"], at);
      if (typeof item.call_id !== "string" || typeof item.name !== "string") {
        throw new MappingError(`${at}: a function_call needs call_id and name`);
      }
      const call = { id: item.call_id, name: item.name, arguments: String(item.arguments ?? "") };
      const last = out.at(-1);
      if (last?.role === "assistant" && last.toolCalls) last.toolCalls.push(call);
      else out.push({ role: "assistant", content: "", toolCalls: [call] });
    } else if (item.type === "function_call_output") {
      checkKeys(item, [...ITEM_BOOKKEEPING, "call_id", "output"], at);
      if (typeof item.call_id !== "string") throw new MappingError(`${at}.call_id: required`);
      out.push({ role: "tool", toolCallId: item.call_id, content: outputText(item.output, `${at}.output`) });
    } else if (item.type === undefined || item.type === "message") out.push(message(item, at));
    else throw new MappingError(`${at}.type: items of type "${String(item.type)}" are not supported here`);
  });
  return out;
}

const DATA_URL = /^data:([\w.+-]+\/[\w.+-]+);base64,(.+)$/s;

function message(item: Json, at: string): ChatMessage {
  checkKeys(item, [...ITEM_BOOKKEEPING, "role", "content"], at);
  const role = item.role === "developer" ? "system" : item.role;
  if (role !== "user" && role !== "assistant" && role !== "system") {
    throw new MappingError(`${at}.role: must be user, assistant, system or developer`);
  }
  if (typeof item.content === "string") return { role, content: item.content };
  if (!Array.isArray(item.content)) throw new MappingError(`${at}.content: required`);
  const parts = item.content.map((p: unknown, j): ContentPart => contentPart(p, `${at}.content[${j}]`));
  return { role, content: parts };
}

const IMAGE_DETAILS = ["auto", "low", "high"];

function contentPart(p: unknown, at: string): ContentPart {
  const part = isObject(p) ? p : {};
  if (part.type === "input_text") {
    checkKeys(part, ["type", "text"], at);
    return { type: "text", text: String(part.text ?? "") };
  }
  if (part.type === "output_text") {
    // Annotations and logprobs of an earlier answer describe it; they ask nothing of this one.
    checkKeys(part, ["type", "text", "annotations", "logprobs"], at);
    return { type: "text", text: String(part.text ?? "") };
  }
  if (part.type === "input_image") {
    checkKeys(part, ["type", "image_url", "detail"], at, ["file_id"]);
    const match = typeof part.image_url === "string" ? DATA_URL.exec(part.image_url) : null;
    if (!match)
      throw new MappingError(
        `${at}.image_url: must be a base64 data: URL (agentbatch does not fetch images)`,
      );
    const image: ContentPart = { type: "image", mediaType: match[1], dataBase64: match[2] };
    if (isSet(part.detail)) {
      if (typeof part.detail !== "string" || !IMAGE_DETAILS.includes(part.detail)) {
        throw new MappingError(`${at}.detail: must be auto, low or high`);
      }
      // "auto" is the default: the same as unset.
      if (part.detail !== "auto") image.detail = part.detail as "low" | "high";
    }
    return image;
  }
  throw new MappingError(
    `${at}: only input_text, output_text and base64 data: URL input_image parts are supported here`,
  );
}

/** A function_call_output's output: a string, or input_text parts (joined by newlines). */
function outputText(output: unknown, at: string): string {
  if (typeof output === "string") return output;
  if (Array.isArray(output)) {
    return output
      .map((p: unknown, j) => {
        const pat = `${at}[${j}]`;
        if (!isObject(p) || p.type !== "input_text" || typeof p.text !== "string") {
          throw new MappingError(
            `${pat}: only input_text parts of a function_call_output are supported here`,
          );
        }
        checkKeys(p, ["type", "text"], pat);
        return p.text;
      })
      .join("\n");
  }
  throw new MappingError(`${at}: must be a string or a list of input_text parts`);
}

function tools(raw: unknown): ToolSpec[] {
  if (!Array.isArray(raw)) throw new MappingError("body.tools: must be a list");
  return raw.map((tool: unknown, i) => {
    if (!isObject(tool) || tool.type !== "function" || typeof tool.name !== "string") {
      throw new MappingError(`body.tools[${i}]: only function tools are supported on this provider`);
    }
    checkKeys(tool, ["type", "name", "description", "parameters", "strict"], `body.tools[${i}]`);
    const spec: ToolSpec = { name: tool.name, parameters: isObject(tool.parameters) ? tool.parameters : {} };
    if (typeof tool.description === "string") spec.description = tool.description;
    if (typeof tool.strict === "boolean") spec.strict = tool.strict;
    return spec;
  });
}

function toolChoice(raw: unknown): ToolChoice {
  if (raw === "auto" || raw === "none" || raw === "required") return raw;
  if (isObject(raw) && raw.type === "function" && typeof raw.name === "string") {
    checkKeys(raw, ["type", "name"], "body.tool_choice");
    return { name: raw.name };
  }
  throw new MappingError("body.tool_choice: must be auto, none, required or {type: function, name}");
}

function format(raw: unknown): ResponseFormat {
  if (isObject(raw) && (raw.type === "text" || raw.type === "json_object")) {
    checkKeys(raw, ["type"], "body.text.format");
    return { type: raw.type };
  }
  if (isObject(raw) && raw.type === "json_schema" && typeof raw.name === "string" && isObject(raw.schema)) {
    checkKeys(raw, ["type", "name", "schema", "strict", "description"], "body.text.format");
    const jsonSchema: Extract<ResponseFormat, { type: "json_schema" }>["jsonSchema"] = {
      name: raw.name,
      schema: raw.schema,
    };
    if (typeof raw.strict === "boolean") jsonSchema.strict = raw.strict;
    if (typeof raw.description === "string") jsonSchema.description = raw.description;
    return { type: "json_schema", jsonSchema };
  }
  throw new MappingError("body.text.format: must be text, json_object or json_schema with a name and schema");
}

/** A chat answer as the Response object OpenAI would have answered the Responses request with. */
export function responseOfChat(body: Json, answer: ModelSuccess, id: string, createdAt: number): Json {
  const output: Json[] = [];
  if (answer.text !== "" || !answer.toolCalls) {
    output.push({
      type: "message",
      id: `msg_${id}`,
      status: "completed",
      role: "assistant",
      content: [{ type: "output_text", text: answer.text, annotations: [], logprobs: [] }],
    });
  }
  answer.toolCalls?.forEach((call, i) => {
    output.push(functionCallItem(id, i, call));
  });
  const u = answer.usage;
  // Answered through a chat model, nothing is stored upstream.
  return responseObject(body, {
    id,
    createdAt,
    model: answer.model,
    output,
    incomplete: answer.finishReason === "length",
    store: false,
    usage: {
      input: u.promptTokens,
      cached: u.cachedPromptTokens ?? 0,
      output: u.completionTokens,
      reasoning: u.reasoningTokens ?? 0,
    },
  });
}
