import type {
  ChatMessage,
  ContentPart,
  ReasoningEffort,
  ResponseFormat,
  ToolCall,
  ToolChoice,
  ToolSpec,
} from "../../providers/types.js";
import type { ChatItemRequest } from "../../store/types.js";
import {
  checkKeys,
  intIn,
  invalid,
  isObject,
  isSet,
  type Json,
  LineError,
  numberIn,
} from "./openai-line-error.js";

/**
 * A chat-completions body → the provider-neutral request, every field a provider can honour kept
 * (whether the line's provider honours it is checked when the item runs: the line then fails
 * naming the field). Fields agentbatch cannot run anywhere fail the line here.
 */

const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const REASONING_EFFORTS = ["none", "minimal", "low", "medium", "high", "xhigh"];
/** Chat-completions fields no provider kind here can honour in a batch. */
const UNSUPPORTED = [
  "functions",
  "function_call",
  "audio",
  "modalities",
  "prediction",
  "web_search_options",
  "logit_bias",
  "verbosity",
];
/**
 * Fields that are not sent upstream: accepted only with a value that asks for nothing (so a line
 * written for OpenAI with `store: false` runs), otherwise the line fails naming the field, since
 * what it asks (a stored completion, a service tier, a prompt cache key) would not happen.
 */
const NO_OP_VALUES: Record<string, { accepts: (v: unknown) => boolean; says: string }> = {
  store: { accepts: (v) => v === false, says: "completions are not stored upstream; only false is accepted" },
  service_tier: {
    accepts: (v) => v === "auto" || v === "default",
    says: "agentbatch does not choose a service tier; only auto or default is accepted",
  },
  prompt_cache_key: { accepts: () => false, says: "not sent upstream by agentbatch; remove it" },
  prompt_cache_retention: { accepts: () => false, says: "not sent upstream by agentbatch; remove it" },
  stream_options: { accepts: () => false, says: "only applies to streaming, which a batch does not do" },
};
const IGNORED = Object.keys(NO_OP_VALUES);
const KNOWN = [
  ...IGNORED,
  "model",
  "messages",
  "max_tokens",
  "max_completion_tokens",
  "temperature",
  "top_p",
  "stop",
  "n",
  "stream",
  "tools",
  "tool_choice",
  "parallel_tool_calls",
  "response_format",
  "seed",
  "logprobs",
  "top_logprobs",
  "frequency_penalty",
  "presence_penalty",
  "user",
  "safety_identifier",
  "metadata",
  "reasoning_effort",
];

type Setter = (r: ChatItemRequest, v: unknown, body: Json) => void;

const FIELDS: Record<string, Setter> = {
  max_tokens: (r, v) => {
    r.maxTokens = intIn(v, 1, Number.MAX_SAFE_INTEGER, "body.max_tokens");
  },
  max_completion_tokens: (r, v) => {
    r.maxCompletionTokens = intIn(v, 1, Number.MAX_SAFE_INTEGER, "body.max_completion_tokens");
  },
  temperature: (r, v) => {
    r.temperature = numberIn(v, 0, 2, "body.temperature");
  },
  top_p: (r, v) => {
    r.topP = numberIn(v, 0, 1, "body.top_p");
  },
  stop: (r, v) => {
    const stop = typeof v === "string" ? [v] : v;
    if (!Array.isArray(stop) || stop.length > 4 || stop.some((s) => typeof s !== "string")) {
      throw invalid("body.stop", "must be a string or up to 4 strings");
    }
    r.stop = stop as string[];
  },
  tools: (r, v) => {
    r.tools = tools(v);
  },
  tool_choice: (r, v, body) => {
    r.toolChoice = toolChoice(v, body);
  },
  parallel_tool_calls: (r, v) => {
    if (typeof v !== "boolean") throw invalid("body.parallel_tool_calls", "must be a boolean");
    r.parallelToolCalls = v;
  },
  response_format: (r, v) => {
    const format = responseFormat(v);
    if (format.type !== "text") r.responseFormat = format;
  },
  seed: (r, v) => {
    r.seed = intIn(v, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, "body.seed");
  },
  logprobs: (r, v) => {
    if (typeof v !== "boolean") throw invalid("body.logprobs", "must be a boolean");
    if (v) r.logprobs = true;
  },
  top_logprobs: (r, v, body) => {
    if (body.logprobs !== true) throw invalid("body.top_logprobs", "requires logprobs to be true");
    r.topLogprobs = intIn(v, 0, 20, "body.top_logprobs");
  },
  frequency_penalty: (r, v) => {
    r.frequencyPenalty = numberIn(v, -2, 2, "body.frequency_penalty");
  },
  presence_penalty: (r, v) => {
    r.presencePenalty = numberIn(v, -2, 2, "body.presence_penalty");
  },
  user: (r, v) => {
    if (typeof v !== "string") throw invalid("body.user", "must be a string");
    r.user = v;
  },
  safety_identifier: (r, v) => {
    if (typeof v !== "string") throw invalid("body.safety_identifier", "must be a string");
    r.user = v;
  },
  metadata: (r, v) => {
    r.metadata = metadataParam(v);
  },
  reasoning_effort: (r, v) => {
    if (typeof v !== "string" || !REASONING_EFFORTS.includes(v)) {
      throw invalid("body.reasoning_effort", `must be one of ${REASONING_EFFORTS.join(", ")}`);
    }
    r.reasoningEffort = v as ReasoningEffort;
  },
};

/** The request of a chat-completions line whose model is already routed. */
export function chatParams(body: Json, model: string, requestedModel: string): ChatItemRequest {
  checkKeys(body, KNOWN, "body", UNSUPPORTED);
  for (const [key, noOp] of Object.entries(NO_OP_VALUES)) {
    if (isSet(body[key]) && !noOp.accepts(body[key])) throw invalid(`body.${key}`, noOp.says);
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    throw new LineError(
      "missing_required_parameter",
      "body.messages must be a non-empty array",
      "body.messages",
    );
  }
  if (body.stream === true) throw invalid("body.stream", "streaming is not supported in a batch");
  if (isSet(body.n) && body.n !== 1) throw invalid("body.n", "must be 1");
  const request: ChatItemRequest = {
    model,
    requestedModel,
    messages: body.messages.map((m, i) => chatMessage(m, `body.messages[${i}]`)),
  };
  for (const [key, setter] of Object.entries(FIELDS)) if (isSet(body[key])) setter(request, body[key], body);
  return request;
}

/** OpenAI's `metadata`: up to 16 string pairs (chat-completions and responses lines alike). */
export function metadataParam(v: unknown): Record<string, string> {
  if (!isObject(v)) throw invalid("body.metadata", "must be an object of strings");
  const entries = Object.entries(v);
  if (entries.length > 16) throw invalid("body.metadata", "holds at most 16 pairs");
  for (const [k, val] of entries) {
    if (typeof val !== "string" || k.length > 64 || val.length > 512) {
      throw invalid(`body.metadata.${k}`, "keys are up to 64 characters, values strings up to 512");
    }
  }
  return v as Record<string, string>;
}

function tools(v: unknown): ToolSpec[] {
  if (!Array.isArray(v)) throw invalid("body.tools", "must be an array");
  return v.map((tool, i) => {
    const at = `body.tools[${i}]`;
    const fn = isObject(tool) ? tool.function : undefined;
    if (!isObject(tool) || tool.type !== "function" || !isObject(fn)) {
      throw invalid(
        at,
        'must be {type: "function", function: {name, parameters}} (only function tools run here)',
      );
    }
    checkKeys(tool, ["type", "function"], at);
    checkKeys(fn, ["name", "description", "parameters", "strict"], `${at}.function`);
    if (typeof fn.name !== "string" || !TOOL_NAME.test(fn.name)) {
      throw invalid(`${at}.function.name`, "must match ^[a-zA-Z0-9_-]{1,64}$");
    }
    if (isSet(fn.parameters) && !isObject(fn.parameters)) {
      throw invalid(`${at}.function.parameters`, "must be a JSON Schema object");
    }
    const spec: ToolSpec = {
      name: fn.name,
      parameters: isObject(fn.parameters) ? fn.parameters : { type: "object", properties: {} },
    };
    if (typeof fn.description === "string") spec.description = fn.description;
    if (typeof fn.strict === "boolean") spec.strict = fn.strict;
    return spec;
  });
}

function toolChoice(v: unknown, body: Json): ToolChoice {
  if (v === "auto" || v === "none" || v === "required") return v;
  const fn = isObject(v) ? v.function : undefined;
  if (isObject(v) && v.type === "function" && isObject(fn) && typeof fn.name === "string") {
    checkKeys(v, ["type", "function"], "body.tool_choice");
    checkKeys(fn, ["name"], "body.tool_choice.function");
    const names = Array.isArray(body.tools)
      ? body.tools.map((t) => (t as { function?: Json })?.function?.name)
      : [];
    if (!names.includes(fn.name)) {
      throw invalid("body.tool_choice.function.name", `"${fn.name}" is not one of body.tools`);
    }
    return { name: fn.name };
  }
  throw invalid(
    "body.tool_choice",
    'must be "auto", "none", "required" or {type: "function", function: {name}}',
  );
}

function responseFormat(v: unknown): ResponseFormat {
  if (isObject(v) && (v.type === "text" || v.type === "json_object")) {
    checkKeys(v, ["type"], "body.response_format");
    return { type: v.type };
  }
  if (isObject(v) && v.type === "json_schema") {
    checkKeys(v, ["type", "json_schema"], "body.response_format");
    const js = v.json_schema;
    if (isObject(js)) {
      checkKeys(js, ["name", "description", "schema", "strict"], "body.response_format.json_schema");
    }
    if (!isObject(js) || typeof js.name !== "string" || !TOOL_NAME.test(js.name)) {
      throw invalid(
        "body.response_format.json_schema.name",
        "is required and must match ^[a-zA-Z0-9_-]{1,64}$",
      );
    }
    if (isSet(js.schema) && !isObject(js.schema)) {
      throw invalid("body.response_format.json_schema.schema", "must be a JSON Schema object");
    }
    const jsonSchema: Extract<ResponseFormat, { type: "json_schema" }>["jsonSchema"] = {
      name: js.name,
      schema: isObject(js.schema) ? js.schema : {},
    };
    if (typeof js.strict === "boolean") jsonSchema.strict = js.strict;
    if (typeof js.description === "string") jsonSchema.description = js.description;
    return { type: "json_schema", jsonSchema };
  }
  throw invalid("body.response_format", "type must be text, json_object or json_schema");
}

/**
 * The keys OpenAI documents for a message of each role. Any other key fails the line naming it
 * (never dropped); of these, the ones no provider here is sent (`UNCARRIED_MESSAGE_KEYS`) fail
 * the line when set, null being unset as OpenAI's own response messages carry them.
 */
const MESSAGE_KEYS = new Map<string, string[]>([
  ["system", ["role", "content", "name"]],
  ["developer", ["role", "content", "name"]],
  ["user", ["role", "content", "name"]],
  ["assistant", ["role", "content", "name", "tool_calls", "refusal", "audio", "function_call"]],
  ["tool", ["role", "content", "tool_call_id"]],
]);
const UNCARRIED_MESSAGE_KEYS = ["name", "refusal", "audio", "function_call"];

function chatMessage(m: unknown, at: string): ChatMessage {
  if (!isObject(m)) throw invalid(at, "must be an object");
  const known = typeof m.role === "string" ? MESSAGE_KEYS.get(m.role) : undefined;
  if (!known) throw invalid(`${at}.role`, "must be system, developer, user, assistant or tool");
  checkKeys(m, known, at, UNCARRIED_MESSAGE_KEYS);
  const role = m.role === "developer" ? "system" : (m.role as ChatMessage["role"]);
  if (role === "tool") {
    if (typeof m.tool_call_id !== "string" || m.tool_call_id === "") {
      throw invalid(`${at}.tool_call_id`, "is required for tool messages");
    }
    return { role, content: content(m.content, at, false), toolCallId: m.tool_call_id };
  }
  if (role === "assistant") {
    const message: ChatMessage = { role, content: content(m.content, at, true) };
    if (Array.isArray(m.tool_calls) && m.tool_calls.length > 0) {
      message.toolCalls = m.tool_calls.map((c, i) => toolCall(c, `${at}.tool_calls[${i}]`));
    } else if (message.content === "") throw invalid(`${at}.content`, "is required unless tool_calls is set");
    return message;
  }
  return { role, content: content(m.content, at, false) };
}

function toolCall(c: unknown, at: string): ToolCall {
  const fn = isObject(c) ? c.function : undefined;
  if (!isObject(c) || typeof c.id !== "string" || !isObject(fn) || typeof fn.name !== "string") {
    throw invalid(at, 'must be {id, type: "function", function: {name, arguments}}');
  }
  checkKeys(c, ["id", "type", "function"], at);
  checkKeys(fn, ["name", "arguments"], `${at}.function`);
  if (isSet(c.type) && c.type !== "function") throw invalid(`${at}.type`, 'must be "function"');
  return { id: c.id, name: fn.name, arguments: typeof fn.arguments === "string" ? fn.arguments : "" };
}

function content(v: unknown, at: string, optional: boolean): string | ContentPart[] {
  if (typeof v === "string") return v;
  if (optional && (v === undefined || v === null)) return "";
  if (!Array.isArray(v) || v.length === 0)
    throw invalid(`${at}.content`, "must be a string or an array of parts");
  return v.map((p, i) => contentPart(p, `${at}.content[${i}]`));
}

const DATA_URL = /^data:([\w.+-]+\/[\w.+-]+);base64,(.+)$/s;
/** Content parts OpenAI documents that no provider here is sent. */
const UNCARRIED_PARTS = ["input_audio", "file", "refusal"];
const IMAGE_DETAILS = ["auto", "low", "high"];

function contentPart(p: unknown, at: string): ContentPart {
  if (isObject(p) && p.type === "text" && typeof p.text === "string") {
    checkKeys(p, ["type", "text"], at);
    return { type: "text", text: p.text };
  }
  if (isObject(p) && p.type === "image_url") {
    checkKeys(p, ["type", "image_url"], at);
    const image = p.image_url;
    if (isObject(image)) checkKeys(image, ["url", "detail"], `${at}.image_url`);
    const url = isObject(image) ? image.url : undefined;
    const match = typeof url === "string" ? DATA_URL.exec(url) : null;
    if (!match) {
      throw invalid(`${at}.image_url.url`, "must be a base64 data: URL (agentbatch does not fetch images)");
    }
    const part: ContentPart = { type: "image", mediaType: match[1], dataBase64: match[2] };
    const detail = isObject(image) ? image.detail : undefined;
    if (isSet(detail)) {
      if (typeof detail !== "string" || !IMAGE_DETAILS.includes(detail)) {
        throw invalid(`${at}.image_url.detail`, "must be auto, low or high");
      }
      // "auto" is the upstream's default: the same as leaving it unset.
      if (detail !== "auto") part.detail = detail as "low" | "high";
    }
    return part;
  }
  if (isObject(p) && typeof p.type === "string" && UNCARRIED_PARTS.includes(p.type)) {
    throw invalid(
      `${at}.type`,
      `${p.type} parts are not supported by agentbatch (no provider here is sent them)`,
    );
  }
  throw invalid(at, "must be a text or image_url part");
}
