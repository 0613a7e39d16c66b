import type { ChatMessage } from "../../providers/types.js";
import type { ChatItemRequest as ItemRequest } from "../../store/types.js";
import { checkKeys, systemMessage, messages as toMessages, toolChoice, tools } from "./anthropic-messages.js";
import { ParamsError } from "./anthropic-params-error.js";
import type { ModelRouter } from "./openai-input.js";

/** The sentinel agent of Anthropic-shaped items (no agent row: each item carries its request). */
export const ANTHROPIC_BATCH_AGENT = "__anthropic_batch__";
const CUSTOM_ID = /^[a-zA-Z0-9_-]{1,64}$/;

export { ParamsError };

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** Checks a create body's requests as Anthropic does; returns them in agentbatch's provider-neutral form. */
export function parseBatchRequests(
  requests: unknown[],
  route: ModelRouter,
  maxRequestBytes = Number.POSITIVE_INFINITY,
): { customId: string; request: ItemRequest }[] {
  const seen = new Set<string>();
  return requests.map((r, i) => {
    const at = `requests.${i}`;
    if (!isObject(r)) throw new ParamsError(`${at}: Input should be an object`);
    const customId = r.custom_id;
    if (typeof customId !== "string" || !CUSTOM_ID.test(customId)) {
      throw new ParamsError(
        `${at}.custom_id: must be 1 to 64 characters of letters, digits, underscores and hyphens ([a-zA-Z0-9_-])`,
      );
    }
    if (seen.has(customId)) {
      throw new ParamsError(
        `${at}.custom_id: "${customId}" is used twice; custom_id must be unique within the batch`,
      );
    }
    seen.add(customId);
    if (!isObject(r.params)) throw new ParamsError(`${at}.params: Field required`);
    if (Buffer.byteLength(JSON.stringify(r.params)) > maxRequestBytes) {
      throw new ParamsError(
        `${at}.params: larger than the limit of ${maxRequestBytes} bytes for one request`,
      );
    }
    return { customId, request: messagesRequest(r.params, `${at}.params`, route) };
  });
}

/** The Messages API params agentbatch reads; anything else is refused as Anthropic refuses unknown fields. */
const KNOWN_PARAMS = new Set([
  "model",
  "max_tokens",
  "messages",
  "system",
  "temperature",
  "top_p",
  "top_k",
  "stop_sequences",
  "stream",
  "tools",
  "tool_choice",
  "thinking",
  "metadata",
]);

/** A Messages API body (model, max_tokens, system, messages, temperature, ...) → ItemRequest. */
export function messagesRequest(p: Json, at: string, route: ModelRouter): ItemRequest {
  for (const key of Object.keys(p)) {
    if (!KNOWN_PARAMS.has(key)) {
      throw new ParamsError(
        `${at}.${key}: Extra inputs are not permitted (agentbatch does not run this field)`,
      );
    }
  }
  if (typeof p.model !== "string" || p.model === "") throw new ParamsError(`${at}.model: Field required`);
  const routed = route(p.model);
  if (!routed.ok) throw new ParamsError(`${at}.model: ${routed.message}`);
  if (p.max_tokens === undefined) throw new ParamsError(`${at}.max_tokens: Field required`);
  if (!Number.isInteger(p.max_tokens) || (p.max_tokens as number) < 1) {
    throw new ParamsError(`${at}.max_tokens: must be a positive integer`);
  }
  if (!Array.isArray(p.messages) || p.messages.length === 0) {
    throw new ParamsError(`${at}.messages: must be a non-empty list`);
  }
  if (p.stream === true) throw new ParamsError(`${at}.stream: streaming is not supported in a batch`);
  const messages: ChatMessage[] = [];
  const system = systemMessage(p.system, `${at}.system`);
  if (system !== null) messages.push(system);
  p.messages.forEach((m, i) => {
    messages.push(...toMessages(m, `${at}.messages.${i}`));
  });
  const request: ItemRequest = {
    model: routed.model,
    requestedModel: p.model,
    messages,
    maxTokens: p.max_tokens as number,
  };
  toolFields(request, p, at);
  if (p.temperature !== undefined) request.temperature = numberIn(p.temperature, 0, 1, `${at}.temperature`);
  if (p.top_p !== undefined) request.topP = numberIn(p.top_p, 0, 1, `${at}.top_p`);
  if (p.top_k !== undefined && p.top_k !== null) {
    throw new ParamsError(
      `${at}.top_k: not supported by agentbatch (it cannot be sent to every provider kind)`,
    );
  }
  if (p.stop_sequences !== undefined) {
    if (!Array.isArray(p.stop_sequences) || p.stop_sequences.some((s) => typeof s !== "string")) {
      throw new ParamsError(`${at}.stop_sequences: must be a list of strings`);
    }
    request.stop = p.stop_sequences as string[];
  }
  return request;
}

function numberIn(v: unknown, min: number, max: number, at: string): number {
  if (typeof v !== "number" || v < min || v > max)
    throw new ParamsError(`${at}: must be a number from ${min} to ${max}`);
  return v;
}

/** `tools`, `tool_choice`, `thinking` and `metadata.user_id`. */
function toolFields(request: ItemRequest, p: Json, at: string): void {
  if (p.tools !== undefined && p.tools !== null) request.tools = tools(p.tools, `${at}.tools`);
  if (p.tool_choice !== undefined && p.tool_choice !== null) {
    const { choice, parallel } = toolChoice(p.tool_choice, `${at}.tool_choice`);
    request.toolChoice = choice;
    if (parallel === false) request.parallelToolCalls = false;
  }
  if (p.thinking !== undefined && p.thinking !== null)
    request.thinking = thinking(p.thinking, `${at}.thinking`);
  if (p.metadata !== undefined && p.metadata !== null) {
    const m = p.metadata;
    if (!isObject(m) || Object.keys(m).some((k) => k !== "user_id")) {
      throw new ParamsError(`${at}.metadata: only user_id is accepted`);
    }
    if (m.user_id !== undefined && m.user_id !== null) {
      if (typeof m.user_id !== "string") throw new ParamsError(`${at}.metadata.user_id: must be a string`);
      request.user = m.user_id;
    }
  }
}

function thinking(v: unknown, at: string): NonNullable<ItemRequest["thinking"]> {
  if (isObject(v) && v.type === "disabled") {
    checkKeys(v, ["type"], at);
    return { type: "disabled" };
  }
  if (isObject(v) && v.type === "enabled") {
    checkKeys(v, ["type", "budget_tokens"], at);
    if (!Number.isInteger(v.budget_tokens) || (v.budget_tokens as number) < 1024) {
      throw new ParamsError(`${at}.budget_tokens: must be an integer of at least 1024`);
    }
    return { type: "enabled", budgetTokens: v.budget_tokens as number };
  }
  throw new ParamsError(`${at}: must be {type: "enabled", budget_tokens} or {type: "disabled"}`);
}
