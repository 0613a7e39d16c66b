import type { Readable } from "node:stream";
import { LineTooLongError, readBoundedLines } from "../../files/line-splitter.js";
import { lastUserText } from "../../providers/text.js";
import type { ApiBatchLineError } from "../../store/api-batches.js";
import type { ItemRequest, NewBatchItem } from "../../store/types.js";
import type { RoutedModel } from "./model-routing.js";
import { chatParams } from "./openai-chat-params.js";
import { embeddingsParams, responsesParams } from "./openai-endpoint-params.js";
import { invalidRequest } from "./openai-errors.js";
import { isObject, type Json, LineError } from "./openai-line-error.js";

export const CHAT_COMPLETIONS_ENDPOINT = "/v1/chat/completions";
export const EMBEDDINGS_ENDPOINT = "/v1/embeddings";
export const RESPONSES_ENDPOINT = "/v1/responses";
/** The endpoints an OpenAI-shaped batch can run. */
export const BATCH_ENDPOINTS = [CHAT_COMPLETIONS_ENDPOINT, EMBEDDINGS_ENDPOINT, RESPONSES_ENDPOINT];
/** OpenAI's own limit of requests in one batch. */
export const MAX_BATCH_LINES = 50_000;
/** Errors listed on a failed batch; more are summed up in one last entry. */
const MAX_KEPT_ERRORS = 1000;
const MAX_CUSTOM_ID_CHARS = 512;

/** The sentinel agent of items that carry their own request: no agent row exists or is needed. */
export const OPENAI_BATCH_AGENT = "__openai_batch__";

export type ModelRouter = (model: string) => RoutedModel;

export interface ParsedLine {
  customId: string;
  request: ItemRequest;
}

/** A line's own keys; anything else (a misplaced `model`, a `metadata`) fails the line, naming it. */
const LINE_KEYS = new Set(["custom_id", "method", "url", "body"]);

/** One input line `{custom_id, method, url, body}` → a routed, provider-neutral request. */
export function parseInputLine(text: string, endpoint: string, route: ModelRouter): ParsedLine {
  let line: unknown;
  try {
    line = JSON.parse(text);
  } catch {
    throw new LineError("invalid_json_line", "This line is not valid JSON");
  }
  if (!isObject(line)) throw new LineError("invalid_json_line", "Each line must be a JSON object");
  const extra = Object.keys(line).find((k) => !LINE_KEYS.has(k));
  if (extra !== undefined) {
    throw new LineError(
      "invalid_value",
      `Unrecognized line field: ${extra}; a line has custom_id, method, url and body`,
      extra,
    );
  }
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
  return { customId, request: endpointRequest(line.body, endpoint, route) };
}

/** The request of a line's body for the batch's endpoint, its model routed. */
function endpointRequest(body: Json, endpoint: string, route: ModelRouter): ItemRequest {
  if (typeof body.model !== "string" || body.model === "") {
    throw new LineError("missing_required_parameter", "body.model is required", "body.model");
  }
  const routed = route(body.model);
  if (!routed.ok) throw new LineError("model_not_found", routed.message, "body.model");
  if (endpoint === EMBEDDINGS_ENDPOINT) return embeddingsParams(body, routed.model, body.model);
  if (endpoint === RESPONSES_ENDPOINT) return responsesParams(body, routed.model, body.model);
  return chatParams(body, routed.model, body.model);
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
    message: itemMessage(request),
    externalUserId: null,
    name: null,
    attachedFileUuids: [],
    historyId: null,
    request,
  };
}

/** What the Codeer routes and chats show of a request: its last user text, or its input. */
function itemMessage(request: ItemRequest): string {
  if (request.operation === "embeddings") return request.input.join("\n");
  if (request.operation === "responses") {
    const { input, instructions } = request.body;
    if (typeof input === "string") return input;
    return typeof instructions === "string" ? instructions : JSON.stringify(input ?? "").slice(0, 2000);
  }
  return lastUserText(request.messages);
}
