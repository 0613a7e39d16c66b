import type { ItemRequest } from "../../store/types.js";
import type { ModelRouter } from "./openai-input.js";

/** The sentinel agent of Anthropic-shaped items (no agent row: each item carries its request). */
export const ANTHROPIC_BATCH_AGENT = "__anthropic_batch__";
const CUSTOM_ID = /^[a-zA-Z0-9_-]{1,64}$/;

/** A request of a Message Batch that Anthropic would refuse; `message` names the field path. */
export class ParamsError extends Error {}

type Json = Record<string, unknown>;
type Message = ItemRequest["messages"][number];
type Part = Exclude<Message["content"], string>[number];

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

/** A Messages API body (model, max_tokens, system, messages, temperature, ...) → ItemRequest. */
export function messagesRequest(p: Json, at: string, route: ModelRouter): ItemRequest {
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
  for (const unsupported of ["tools", "tool_choice", "thinking"]) {
    if (p[unsupported] !== undefined && p[unsupported] !== null) {
      throw new ParamsError(`${at}.${unsupported}: not supported by agentbatch`);
    }
  }
  if (p.stream === true) throw new ParamsError(`${at}.stream: streaming is not supported in a batch`);
  const messages: Message[] = [];
  const system = systemText(p.system, `${at}.system`);
  if (system !== null) messages.push({ role: "system", content: system });
  p.messages.forEach((m, i) => {
    messages.push(message(m, `${at}.messages.${i}`));
  });
  const request: ItemRequest = {
    model: routed.model,
    requestedModel: p.model,
    messages,
    maxTokens: p.max_tokens as number,
  };
  if (p.temperature !== undefined) request.temperature = numberIn(p.temperature, 0, 1, `${at}.temperature`);
  if (p.top_p !== undefined) request.topP = numberIn(p.top_p, 0, 1, `${at}.top_p`);
  if (p.top_k !== undefined && (!Number.isInteger(p.top_k) || (p.top_k as number) < 0)) {
    throw new ParamsError(`${at}.top_k: must be a non-negative integer`);
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

/** `system` as a string or text blocks; null when absent. */
function systemText(system: unknown, at: string): string | null {
  if (system === undefined || system === null) return null;
  if (typeof system === "string") return system;
  if (Array.isArray(system)) {
    return system
      .map((b, i) => {
        if (!isObject(b) || b.type !== "text" || typeof b.text !== "string") {
          throw new ParamsError(`${at}.${i}: must be a text block`);
        }
        return b.text;
      })
      .join("\n");
  }
  throw new ParamsError(`${at}: must be a string or a list of text blocks`);
}

function message(m: unknown, at: string): Message {
  if (!isObject(m)) throw new ParamsError(`${at}: Input should be an object`);
  if (m.role !== "user" && m.role !== "assistant")
    throw new ParamsError(`${at}.role: must be user or assistant`);
  if (typeof m.content === "string") return { role: m.role, content: m.content };
  if (!Array.isArray(m.content) || m.content.length === 0) {
    throw new ParamsError(`${at}.content: must be a string or a non-empty list of content blocks`);
  }
  return { role: m.role, content: m.content.map((b, i) => block(b, `${at}.content.${i}`)) };
}

function block(b: unknown, at: string): Part {
  if (isObject(b) && b.type === "text" && typeof b.text === "string") return { type: "text", text: b.text };
  if (isObject(b) && b.type === "image") {
    const s = b.source;
    if (
      isObject(s) &&
      s.type === "base64" &&
      typeof s.media_type === "string" &&
      typeof s.data === "string"
    ) {
      return { type: "image", mediaType: s.media_type, dataBase64: s.data };
    }
    throw new ParamsError(
      `${at}.source: only base64 image sources are supported (agentbatch does not fetch URLs)`,
    );
  }
  throw new ParamsError(`${at}: only text and image blocks are supported`);
}
