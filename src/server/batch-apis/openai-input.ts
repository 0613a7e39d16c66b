import type { Readable } from "node:stream";
import { LineTooLongError, readBoundedLines } from "../../files/line-splitter.js";
import { lastUserText } from "../../providers/text.js";
import type { ApiBatchLineError } from "../../store/api-batches.js";
import type { ItemRequest, NewBatchItem } from "../../store/types.js";
import type { RoutedModel } from "./model-routing.js";
import { invalidRequest } from "./openai-errors.js";

export const CHAT_COMPLETIONS_ENDPOINT = "/v1/chat/completions";
/** OpenAI's own limit of requests in one batch. */
export const MAX_BATCH_LINES = 50_000;
/** Errors listed on a failed batch; more are summed up in one last entry. */
const MAX_KEPT_ERRORS = 1000;
const MAX_CUSTOM_ID_CHARS = 512;

/** The sentinel agent of items that carry their own request: no agent row exists or is needed. */
export const OPENAI_BATCH_AGENT = "__openai_batch__";

export type ModelRouter = (model: string) => RoutedModel;

type Json = Record<string, unknown>;
type Message = ItemRequest["messages"][number];
type Part = Exclude<Message["content"], string>[number];

export interface ParsedLine {
  customId: string;
  request: ItemRequest;
}

class LineError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** One input line `{custom_id, method, url, body}` → a routed, provider-neutral request. */
export function parseInputLine(text: string, endpoint: string, route: ModelRouter): ParsedLine {
  let line: unknown;
  try {
    line = JSON.parse(text);
  } catch {
    throw new LineError("invalid_json_line", "This line is not valid JSON");
  }
  if (!isObject(line)) throw new LineError("invalid_json_line", "Each line must be a JSON object");
  const customId = line.custom_id;
  if (typeof customId !== "string" || customId === "") {
    throw new LineError("missing_required_parameter", "custom_id must be a non-empty string", "custom_id");
  }
  if (customId.length > MAX_CUSTOM_ID_CHARS) {
    throw new LineError(
      "invalid_value",
      `custom_id is longer than ${MAX_CUSTOM_ID_CHARS} characters`,
      "custom_id",
    );
  }
  if (line.method !== "POST") throw new LineError("invalid_value", "method must be POST", "method");
  if (line.url !== endpoint) {
    throw new LineError("invalid_url", `url must be ${endpoint}, the batch's endpoint`, "url");
  }
  if (!isObject(line.body))
    throw new LineError("missing_required_parameter", "body must be an object", "body");
  return { customId, request: chatRequest(line.body, route) };
}

/** A chat-completions body in agentbatch's provider-neutral form. */
function chatRequest(body: Json, route: ModelRouter): ItemRequest {
  if (typeof body.model !== "string" || body.model === "") {
    throw new LineError("missing_required_parameter", "body.model is required", "body.model");
  }
  const routed = route(body.model);
  if (!routed.ok) throw new LineError("model_not_found", routed.message, "body.model");
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    throw new LineError(
      "missing_required_parameter",
      "body.messages must be a non-empty array",
      "body.messages",
    );
  }
  for (const unsupported of ["tools", "functions", "audio"]) {
    if (body[unsupported] !== undefined && body[unsupported] !== null) {
      throw new LineError(
        "invalid_value",
        `body.${unsupported} is not supported by agentbatch`,
        `body.${unsupported}`,
      );
    }
  }
  if (body.stream === true)
    throw new LineError("invalid_value", "body.stream is not supported in a batch", "body.stream");
  if (body.n !== undefined && body.n !== null && body.n !== 1) {
    throw new LineError("invalid_value", "body.n must be 1", "body.n");
  }
  const request: ItemRequest = {
    model: routed.model,
    requestedModel: body.model,
    messages: body.messages.map((m, i) => chatMessage(m, `body.messages[${i}]`)),
  };
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  if (maxTokens !== undefined && maxTokens !== null) {
    if (!Number.isInteger(maxTokens) || (maxTokens as number) < 1) {
      throw new LineError("invalid_value", "body.max_tokens must be a positive integer", "body.max_tokens");
    }
    request.maxTokens = maxTokens as number;
  }
  if (body.temperature !== undefined && body.temperature !== null) {
    request.temperature = numberIn(body.temperature, 0, 2, "body.temperature");
  }
  if (body.top_p !== undefined && body.top_p !== null)
    request.topP = numberIn(body.top_p, 0, 1, "body.top_p");
  if (body.stop !== undefined && body.stop !== null) {
    const stop = typeof body.stop === "string" ? [body.stop] : body.stop;
    if (!Array.isArray(stop) || stop.length > 4 || stop.some((s) => typeof s !== "string")) {
      throw new LineError("invalid_value", "body.stop must be a string or up to 4 strings", "body.stop");
    }
    request.stop = stop as string[];
  }
  return request;
}

function numberIn(v: unknown, min: number, max: number, param: string): number {
  if (typeof v !== "number" || v < min || v > max) {
    throw new LineError("invalid_value", `${param} must be a number from ${min} to ${max}`, param);
  }
  return v;
}

function chatMessage(m: unknown, param: string): Message {
  if (!isObject(m)) throw new LineError("invalid_value", `${param} must be an object`, param);
  const role = m.role === "developer" ? "system" : m.role;
  if (role !== "system" && role !== "user" && role !== "assistant") {
    throw new LineError(
      "invalid_value",
      `${param}.role must be system, developer, user or assistant (tool messages are not supported)`,
      `${param}.role`,
    );
  }
  const content = m.content;
  if (typeof content === "string") return { role, content };
  if (!Array.isArray(content) || content.length === 0) {
    throw new LineError(
      "invalid_value",
      `${param}.content must be a string or an array of parts`,
      `${param}.content`,
    );
  }
  return { role, content: content.map((p, i) => contentPart(p, `${param}.content[${i}]`)) };
}

const DATA_URL = /^data:([\w.+-]+\/[\w.+-]+);base64,(.+)$/s;

function contentPart(p: unknown, param: string): Part {
  if (isObject(p) && p.type === "text" && typeof p.text === "string") return { type: "text", text: p.text };
  if (isObject(p) && p.type === "image_url") {
    const url = isObject(p.image_url) ? p.image_url.url : undefined;
    const match = typeof url === "string" ? DATA_URL.exec(url) : null;
    if (!match) {
      throw new LineError(
        "invalid_value",
        `${param}.image_url.url must be a base64 data: URL (agentbatch does not fetch images)`,
        `${param}.image_url.url`,
      );
    }
    return { type: "image", mediaType: match[1], dataBase64: match[2] };
  }
  throw new LineError("invalid_value", `${param} must be a text or image_url part`, param);
}

/**
 * Non-empty lines of a JSONL stream with their 1-based line numbers, read one at a time; a line
 * over `maxBytes` fails the whole file with 400 naming the line (it is never held in memory).
 */
async function* jsonlLines(
  source: Readable,
  maxBytes: number,
): AsyncIterable<{ text: string; line: number }> {
  try {
    for await (const l of readBoundedLines(source, maxBytes)) if (l.text.trim() !== "") yield l;
  } catch (err) {
    if (!(err instanceof LineTooLongError)) throw err;
    throw invalidRequest(`input_file_id: ${err.message}`, "input_file_id", "invalid_file");
  }
}

/**
 * First pass over an input file: validates every line as OpenAI does (custom_id unique, method,
 * url, routable model, messages) while holding only the custom ids, never the requests.
 */
export async function validateInputFile(
  source: Readable,
  endpoint: string,
  route: ModelRouter,
  maxLineBytes: number,
): Promise<{ total: number; errors: ApiBatchLineError[] }> {
  const seen = new Set<string>();
  const errors: ApiBatchLineError[] = [];
  let total = 0;
  let errorCount = 0;
  const fail = (e: ApiBatchLineError) => {
    errorCount++;
    if (errors.length < MAX_KEPT_ERRORS) errors.push(e);
  };
  for await (const { text, line } of jsonlLines(source, maxLineBytes)) {
    total++;
    try {
      const parsed = parseInputLine(text, endpoint, route);
      if (seen.has(parsed.customId)) {
        throw new LineError(
          "duplicate_custom_id",
          `custom_id "${parsed.customId}" is used twice; custom_id must be unique within the batch`,
          "custom_id",
        );
      }
      seen.add(parsed.customId);
    } catch (err) {
      if (!(err instanceof LineError)) throw err;
      fail({ code: err.code, message: err.message, param: err.param, line });
    }
  }
  if (total === 0)
    fail({ code: "empty_file", message: "The input file has no requests", param: null, line: null });
  if (total > MAX_BATCH_LINES) {
    fail({
      code: "too_many_requests",
      message: `The input file has ${total} requests; a batch holds at most ${MAX_BATCH_LINES}`,
      param: null,
      line: null,
    });
  }
  if (errorCount > errors.length) {
    errors.push({
      code: "too_many_errors",
      message: `${errorCount - errors.length} more lines are invalid and not listed`,
      param: null,
      line: null,
    });
  }
  return { total, errors };
}

/** Second pass over a validated file: its items, a group at a time, for the store to insert. */
export async function* inputItemGroups(
  source: Readable,
  endpoint: string,
  route: ModelRouter,
  maxLineBytes: number,
  groupSize = 500,
): AsyncIterable<NewBatchItem[]> {
  let group: NewBatchItem[] = [];
  for await (const { text } of jsonlLines(source, maxLineBytes)) {
    const { customId, request } = parseInputLine(text, endpoint, route);
    group.push(requestItem(customId, request, OPENAI_BATCH_AGENT));
    if (group.length >= groupSize) {
      yield group;
      group = [];
    }
  }
  if (group.length > 0) yield group;
}

/** A batch item that carries its own request; `message` (the last user text) is what the Codeer routes and chats show. */
export function requestItem(customId: string, request: ItemRequest, agentId: string): NewBatchItem {
  return {
    customId,
    agentId,
    agentVersion: 0,
    message: lastUserText(request.messages),
    externalUserId: null,
    name: null,
    attachedFileUuids: [],
    historyId: null,
    request,
  };
}
