import type { IncomingHttpHeaders } from "node:http";
import type { ProviderConfig } from "../config/index.js";
import { ANTHROPIC_CAPABILITIES } from "./capabilities.js";
import { HttpUpstream, header, type ResponseBody, truncate } from "./http-upstream.js";
import { parseRetryAfterMs } from "./openai-compatible.js";
import { outcomeForHttpError, retryable } from "./outcomes.js";
import { readSseEvents } from "./sse.js";
import type {
  ChatMessage,
  DeltaListener,
  ModelOutcome,
  ModelProvider,
  ModelRequest,
  RateLimitHint,
} from "./types.js";

const DEFAULT_BASE_URL = "https://api.anthropic.com";
const API_VERSION = "2023-06-01";
/** Anthropic requires max_tokens; this is used when neither the agent nor the request sets it. */
export const DEFAULT_MAX_TOKENS = 1024;

type Block =
  | { type: "text"; text: string }
  | { type: "image"; source: { type: "base64"; media_type: string; data: string } };

interface MessagePayload {
  model?: string;
  content?: Array<{ type?: string; text?: string }>;
  stop_reason?: string | null;
  usage?: { input_tokens?: number; output_tokens?: number };
}

/** Anthropic's stop reasons in the OpenAI terms the engine stores. */
const FINISH_REASONS: Record<string, string> = {
  end_turn: "stop",
  stop_sequence: "stop",
  max_tokens: "length",
  tool_use: "tool_calls",
  refusal: "content_filter",
  pause_turn: "stop",
};

/**
 * Anthropic's Messages API (`POST {base}/v1/messages`) over one keep-alive undici pool: the
 * system prompt goes top-level, images as base64 blocks, streaming as SSE text deltas, and the
 * `anthropic-ratelimit-*` headers feed the engine's limiter.
 */
export class AnthropicProvider implements ModelProvider {
  readonly name: string;
  readonly capabilities = ANTHROPIC_CAPABILITIES;
  private readonly upstream: HttpUpstream;
  private readonly path: string;
  private readonly headers: Record<string, string>;

  constructor(name: string, cfg: ProviderConfig, defaults: { timeoutMs: number }) {
    this.name = name;
    const base = new URL(cfg.baseUrl ?? DEFAULT_BASE_URL);
    const prefix = base.pathname.replace(/\/+$/, "");
    // Accept a base URL with or without its /v1.
    this.path = prefix.endsWith("/v1") ? `${prefix}/messages` : `${prefix}/v1/messages`;
    this.headers = {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "anthropic-version": API_VERSION,
    };
    if (cfg.apiKey) this.headers["x-api-key"] = cfg.apiKey;
    this.upstream = new HttpUpstream(base.origin, cfg.timeoutMs ?? defaults.timeoutMs, cfg.maxConcurrency);
  }

  complete(request: ModelRequest, signal: AbortSignal, onDelta?: DeltaListener): Promise<ModelOutcome> {
    const body = anthropicRequestBody(request, onDelta !== undefined);
    return this.upstream.post(this.path, this.headers, body, signal, async (response) => {
      const rateLimit = parseAnthropicRateLimit(response.headers);
      if (response.statusCode < 200 || response.statusCode >= 300) {
        const message = `upstream ${response.statusCode}: ${errorMessage(await response.body.text())}`;
        return outcomeForHttpError(response.statusCode, message, {
          retryAfterMs: parseRetryAfterMs(response.headers),
          rateLimit,
        });
      }
      const isStream =
        onDelta !== undefined &&
        String(header(response.headers, "content-type") ?? "").includes("event-stream");
      return isStream
        ? await readStream(response.body, request, onDelta, rateLimit)
        : readMessage(await response.body.text(), request, onDelta, rateLimit);
    });
  }

  close(): Promise<void> {
    return this.upstream.close();
  }
}

/** The Messages API body: system messages joined into the top-level `system`, the rest as turns. */
export function anthropicRequestBody(request: ModelRequest, stream: boolean): Record<string, unknown> {
  const system: string[] = [];
  const messages: { role: "user" | "assistant"; content: string | Block[] }[] = [];
  for (const m of request.messages) {
    if (m.role === "system") system.push(typeof m.content === "string" ? m.content : textOf(m));
    else messages.push({ role: m.role === "tool" ? "user" : m.role, content: toBlocks(m.content) });
  }
  const body: Record<string, unknown> = {
    model: request.model,
    max_tokens: request.maxTokens ?? DEFAULT_MAX_TOKENS,
    messages,
  };
  if (system.length > 0) body.system = system.join("\n");
  if (request.temperature !== undefined) body.temperature = Math.min(1, request.temperature);
  if (request.topP !== undefined) body.top_p = request.topP;
  if (request.stop !== undefined && request.stop.length > 0) body.stop_sequences = request.stop;
  if (stream) body.stream = true;
  return body;
}

function textOf(m: ChatMessage): string {
  if (typeof m.content === "string") return m.content;
  return m.content.map((p) => (p.type === "text" ? p.text : "")).join("\n");
}

function toBlocks(content: ChatMessage["content"]): string | Block[] {
  if (typeof content === "string") return content;
  return content.map((p) =>
    p.type === "text"
      ? { type: "text", text: p.text }
      : { type: "image", source: { type: "base64", media_type: p.mediaType, data: p.dataBase64 } },
  );
}

function readMessage(
  raw: string,
  request: ModelRequest,
  onDelta: DeltaListener | undefined,
  rateLimit: RateLimitHint | undefined,
): ModelOutcome {
  let payload: MessagePayload;
  try {
    payload = JSON.parse(raw) as MessagePayload;
  } catch {
    return retryable(502, `upstream sent invalid JSON: ${truncate(raw)}`, false, { rateLimit });
  }
  if (!Array.isArray(payload.content)) {
    return retryable(502, `upstream sent no content: ${truncate(raw)}`, false, { rateLimit });
  }
  const text = payload.content.map((b) => (b.type === "text" ? (b.text ?? "") : "")).join("");
  if (onDelta && text) onDelta(text);
  return success(text, payload.model ?? request.model, payload.usage, payload.stop_reason, rateLimit);
}

/** What an Anthropic stream has said so far. */
interface StreamState {
  parts: string[];
  model?: string;
  inputTokens?: number;
  outputTokens?: number;
  stopReason?: string | null;
  error?: { type: string; message: string };
  stopped: boolean;
}

/** Reads Anthropic's SSE events: text from content_block_delta, usage from message_start / message_delta. */
async function readStream(
  body: ResponseBody,
  request: ModelRequest,
  onDelta: DeltaListener,
  rateLimit: RateLimitHint | undefined,
): Promise<ModelOutcome> {
  const state: StreamState = { parts: [], stopped: false };
  // Read to the end even after message_stop or an error, so the connection goes back to the pool.
  for await (const event of readSseEvents(body)) {
    if (!state.stopped && !state.error) applyStreamEvent(state, event.data, onDelta);
  }
  if (state.error) return streamErrorOutcome(state.error, rateLimit);
  if (!state.stopped) return retryable(502, "upstream stream ended early", false, { rateLimit });
  return success(
    state.parts.join(""),
    state.model ?? request.model,
    { input_tokens: state.inputTokens, output_tokens: state.outputTokens },
    state.stopReason,
    rateLimit,
  );
}

function applyStreamEvent(state: StreamState, raw: string, onDelta: DeltaListener): void {
  let event: any;
  try {
    event = JSON.parse(raw);
  } catch {
    state.error = {
      type: "invalid_event",
      message: `upstream sent an invalid stream event: ${truncate(raw)}`,
    };
    return;
  }
  switch (event?.type) {
    case "message_start":
      state.model = event.message?.model ?? state.model;
      state.inputTokens = event.message?.usage?.input_tokens ?? state.inputTokens;
      state.outputTokens = event.message?.usage?.output_tokens ?? state.outputTokens;
      break;
    case "content_block_delta":
      if (event.delta?.type === "text_delta" && typeof event.delta.text === "string" && event.delta.text) {
        state.parts.push(event.delta.text);
        onDelta(event.delta.text);
      }
      break;
    case "message_delta":
      state.stopReason = event.delta?.stop_reason ?? state.stopReason;
      state.outputTokens = event.usage?.output_tokens ?? state.outputTokens;
      if (typeof event.usage?.input_tokens === "number") state.inputTokens = event.usage.input_tokens;
      break;
    case "message_stop":
      state.stopped = true;
      break;
    case "error":
      state.error = {
        type: event.error?.type ?? "api_error",
        message: event.error?.message ?? "upstream stream error",
      };
      break;
  }
}

/** An `error` event mid-stream: rate limits retry after a while, bad requests fail, the rest retry. */
function streamErrorOutcome(
  error: { type: string; message: string },
  rateLimit: RateLimitHint | undefined,
): ModelOutcome {
  const message = `upstream stream error: ${error.type}: ${truncate(error.message)}`;
  if (error.type === "rate_limit_error") return retryable(429, message, true, { rateLimit });
  if (error.type === "invalid_request_error") return { kind: "failed", code: 400, message };
  return retryable(502, message, false, { rateLimit });
}

function success(
  text: string,
  model: string,
  usage: MessagePayload["usage"],
  stopReason: string | null | undefined,
  rateLimit: RateLimitHint | undefined,
): ModelOutcome {
  const outcome: ModelOutcome = {
    kind: "success",
    text,
    model,
    usage: { promptTokens: usage?.input_tokens ?? 0, completionTokens: usage?.output_tokens ?? 0 },
    finishReason: FINISH_REASONS[stopReason ?? "end_turn"] ?? "stop",
  };
  if (rateLimit) outcome.rateLimit = rateLimit;
  return outcome;
}

function count(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const v = Number(value);
  return Number.isFinite(v) && v >= 0 ? v : undefined;
}

/** Milliseconds until an RFC 3339 reset time (`anthropic-ratelimit-*-reset`). */
function untilMs(value: string | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Anthropic's `anthropic-ratelimit-{requests,tokens}-{remaining,reset}` headers. */
export function parseAnthropicRateLimit(
  headers: IncomingHttpHeaders,
  now = Date.now(),
): RateLimitHint | undefined {
  const hint: RateLimitHint = {};
  const remainingRequests = count(header(headers, "anthropic-ratelimit-requests-remaining"));
  const remainingTokens = count(header(headers, "anthropic-ratelimit-tokens-remaining"));
  const resetRequestsMs = untilMs(header(headers, "anthropic-ratelimit-requests-reset"), now);
  const resetTokensMs = untilMs(header(headers, "anthropic-ratelimit-tokens-reset"), now);
  if (remainingRequests !== undefined) hint.remainingRequests = remainingRequests;
  if (remainingTokens !== undefined) hint.remainingTokens = remainingTokens;
  if (resetRequestsMs !== undefined) hint.resetRequestsMs = resetRequestsMs;
  if (resetTokensMs !== undefined) hint.resetTokensMs = resetTokensMs;
  return Object.keys(hint).length > 0 ? hint : undefined;
}

/** Anthropic's `{type: "error", error: {type, message}}`, or the raw text. */
function errorMessage(raw: string): string {
  try {
    const parsed = JSON.parse(raw) as { error?: { type?: string; message?: string } | string };
    if (typeof parsed.error === "string") return truncate(parsed.error);
    if (parsed.error?.message) return truncate(`${parsed.error.type ?? "error"}: ${parsed.error.message}`);
  } catch {
    // Not JSON: the raw text is the best explanation there is.
  }
  return truncate(raw.trim()) || "no error message";
}
