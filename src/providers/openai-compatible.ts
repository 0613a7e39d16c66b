import type { IncomingHttpHeaders } from "node:http";
import type { ProviderConfig } from "../config/index.js";
import { OPENAI_COMPATIBLE_CAPABILITIES } from "./capabilities.js";
import { HttpUpstream, header, type ResponseBody, truncate } from "./http-upstream.js";
import { outcomeForHttpError, retryable } from "./outcomes.js";
import { readSseEvents } from "./sse.js";
import { contentText, countTokens } from "./text.js";
import type {
  ChatMessage,
  DeltaListener,
  ModelOutcome,
  ModelProvider,
  ModelRequest,
  RateLimitHint,
  TokenUsage,
} from "./types.js";

const DEFAULT_BASE_URL = "https://api.openai.com/v1";
/** Enough sockets for the engine's default concurrency without queueing inside undici. */
/** Upstream error text kept in an item's error message. */

type OpenAIContent =
  | string
  | Array<{ type: "text"; text: string } | { type: "image_url"; image_url: { url: string } }>;

interface CompletionPayload {
  model?: string;
  choices?: Array<{
    message?: { content?: string | null; refusal?: string | null };
    finish_reason?: string | null;
  }>;
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
  error?: unknown;
}

interface ChunkPayload {
  model?: string;
  choices?: Array<{ delta?: { content?: string | null }; finish_reason?: string | null }>;
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
  error?: unknown;
}

/**
 * Any server speaking OpenAI's chat completions API (OpenAI, vLLM, Ollama, llama.cpp, the mock).
 */
export class OpenAICompatibleProvider implements ModelProvider {
  readonly name: string;
  readonly capabilities = OPENAI_COMPATIBLE_CAPABILITIES;
  private readonly upstream: HttpUpstream;
  private readonly path: string;
  private readonly headers: Record<string, string>;

  constructor(name: string, cfg: ProviderConfig, defaults: { timeoutMs: number }) {
    this.name = name;
    const base = new URL(cfg.baseUrl ?? DEFAULT_BASE_URL);
    this.path = `${base.pathname.replace(/\/+$/, "")}/chat/completions`;
    this.headers = { "content-type": "application/json", accept: "application/json, text/event-stream" };
    if (cfg.apiKey) this.headers.authorization = `Bearer ${cfg.apiKey}`;
    this.upstream = new HttpUpstream(base.origin, cfg.timeoutMs ?? defaults.timeoutMs, cfg.maxConcurrency);
  }

  complete(request: ModelRequest, signal: AbortSignal, onDelta?: DeltaListener): Promise<ModelOutcome> {
    return this.upstream.post(
      this.path,
      this.headers,
      requestBody(request, onDelta !== undefined),
      signal,
      async (response) => {
        const rateLimit = parseRateLimitHint(response.headers);
        if (response.statusCode < 200 || response.statusCode >= 300) {
          const message = `upstream ${response.statusCode}: ${errorMessage(await response.body.text())}`;
          return outcomeForHttpError(response.statusCode, message, {
            retryAfterMs: parseRetryAfterMs(response.headers),
            rateLimit,
          });
        }
        const isStream =
          onDelta !== undefined && header(response.headers, "content-type")?.includes("event-stream");
        return isStream
          ? await readStream(response.body, request, onDelta, rateLimit)
          : readCompletion(await response.body.text(), request, onDelta, rateLimit);
      },
    );
  }

  close(): Promise<void> {
    return this.upstream.close();
  }
}

function requestBody(request: ModelRequest, stream: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model: request.model,
    messages: request.messages.map(toOpenAIMessage),
  };
  if (request.temperature !== undefined) body.temperature = request.temperature;
  if (request.maxTokens !== undefined) body.max_tokens = request.maxTokens;
  if (request.topP !== undefined) body.top_p = request.topP;
  if (request.stop !== undefined && request.stop.length > 0) body.stop = request.stop;
  if (stream) {
    body.stream = true;
    body.stream_options = { include_usage: true };
  }
  return body;
}

function toOpenAIMessage(message: ChatMessage): { role: string; content: OpenAIContent } {
  if (typeof message.content === "string") return { role: message.role, content: message.content };
  return {
    role: message.role,
    content: message.content.map((part) =>
      part.type === "text"
        ? { type: "text" as const, text: part.text }
        : {
            type: "image_url" as const,
            image_url: { url: `data:${part.mediaType};base64,${part.dataBase64}` },
          },
    ),
  };
}

function readCompletion(
  raw: string,
  request: ModelRequest,
  onDelta: DeltaListener | undefined,
  rateLimit: RateLimitHint | undefined,
): ModelOutcome {
  let payload: CompletionPayload;
  try {
    payload = JSON.parse(raw) as CompletionPayload;
  } catch {
    return retryable(502, `upstream sent invalid JSON: ${truncate(raw)}`, false, { rateLimit });
  }
  const message = payload.choices?.[0]?.message;
  if (!message) return retryable(502, `upstream sent no choices: ${truncate(raw)}`, false, { rateLimit });
  const text = message.content ?? message.refusal ?? "";
  // A server that ignored `stream` still owes the listener the text.
  if (onDelta && text) onDelta(text);
  const outcome = success(
    text,
    payload.model ?? request.model,
    usageOrEstimate(payload.usage, request, text),
    rateLimit,
  );
  const finishReason = payload.choices?.[0]?.finish_reason;
  if (outcome.kind === "success" && finishReason) outcome.finishReason = finishReason;
  return outcome;
}

/** Reads OpenAI's server-sent events as they arrive, passing each content delta on. */
async function readStream(
  body: ResponseBody,
  request: ModelRequest,
  onDelta: DeltaListener,
  rateLimit: RateLimitHint | undefined,
): Promise<ModelOutcome> {
  const parts: string[] = [];
  let model: string | undefined;
  let usage: CompletionPayload["usage"];
  let upstreamError: string | undefined;
  let complete = false;
  let finished = false;

  const dispatch = (data: string) => {
    if (data === "[DONE]") {
      complete = true;
      return;
    }
    if (complete || upstreamError !== undefined) return;
    let chunk: ChunkPayload;
    try {
      chunk = JSON.parse(data) as ChunkPayload;
    } catch {
      upstreamError = `upstream sent an invalid stream event: ${truncate(data)}`;
      return;
    }
    if (chunk.error !== undefined) {
      upstreamError = `upstream stream error: ${errorMessage(JSON.stringify(chunk))}`;
      return;
    }
    if (chunk.model) model = chunk.model;
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices?.[0];
    const delta = choice?.delta?.content;
    if (delta) {
      parts.push(delta);
      onDelta(delta);
    }
    // Usage arrives in a chunk after finish_reason, so only [DONE] or the body's end stop reading.
    if (choice?.finish_reason) finished = true;
  };

  for await (const event of readSseEvents(body)) dispatch(event.data);

  if (upstreamError !== undefined) return retryable(502, upstreamError, false, { rateLimit });
  if (!complete && !finished) return retryable(502, "upstream stream ended early", false, { rateLimit });
  const text = parts.join("");
  return success(text, model ?? request.model, usageOrEstimate(usage, request, text), rateLimit);
}

function success(
  text: string,
  model: string,
  usage: TokenUsage,
  rateLimit: RateLimitHint | undefined,
): ModelOutcome {
  const outcome: ModelOutcome = { kind: "success", text, usage, model };
  if (rateLimit) outcome.rateLimit = rateLimit;
  return outcome;
}

/** Servers that omit usage (some local ones) still need a figure for token limits and cost. */
function usageOrEstimate(usage: CompletionPayload["usage"], request: ModelRequest, text: string): TokenUsage {
  if (usage && typeof usage.prompt_tokens === "number" && typeof usage.completion_tokens === "number") {
    return { promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens };
  }
  let promptTokens = 0;
  for (const message of request.messages) promptTokens += countTokens(contentText(message.content));
  return { promptTokens, completionTokens: countTokens(text) };
}

/** The upstream's own explanation: OpenAI's `{error: {message}}`, other shapes, or raw text. */
function errorMessage(raw: string): string {
  try {
    const parsed = JSON.parse(raw) as { error?: unknown; message?: unknown; detail?: unknown };
    const error = parsed.error;
    if (typeof error === "string") return truncate(error);
    if (error && typeof error === "object" && typeof (error as { message?: unknown }).message === "string") {
      return truncate((error as { message: string }).message);
    }
    if (typeof parsed.message === "string") return truncate(parsed.message);
    if (typeof parsed.detail === "string") return truncate(parsed.detail);
  } catch {
    // Not JSON: the raw text is the best explanation there is.
  }
  return truncate(raw.trim()) || "no error message";
}

/** `retry-after-ms` when sent (more precise), else `retry-after` in seconds or as an HTTP date. */
export function parseRetryAfterMs(headers: IncomingHttpHeaders, now = Date.now()): number | undefined {
  const ms = header(headers, "retry-after-ms");
  if (ms !== undefined && ms.trim() !== "") {
    const value = Number(ms);
    if (Number.isFinite(value) && value >= 0) return value;
  }
  const after = header(headers, "retry-after")?.trim();
  if (!after) return undefined;
  const seconds = Number(after);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined;
  const date = Date.parse(after);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** OpenAI's `x-ratelimit-*` headers, when the upstream sends them. */
export function parseRateLimitHint(headers: IncomingHttpHeaders): RateLimitHint | undefined {
  const hint: RateLimitHint = {};
  let found = false;
  const remainingRequests = parseCount(header(headers, "x-ratelimit-remaining-requests"));
  if (remainingRequests !== undefined) {
    hint.remainingRequests = remainingRequests;
    found = true;
  }
  const remainingTokens = parseCount(header(headers, "x-ratelimit-remaining-tokens"));
  if (remainingTokens !== undefined) {
    hint.remainingTokens = remainingTokens;
    found = true;
  }
  const resetRequests = parseDurationMs(header(headers, "x-ratelimit-reset-requests"));
  if (resetRequests !== undefined) {
    hint.resetRequestsMs = resetRequests;
    found = true;
  }
  const resetTokens = parseDurationMs(header(headers, "x-ratelimit-reset-tokens"));
  if (resetTokens !== undefined) {
    hint.resetTokensMs = resetTokens;
    found = true;
  }
  return found ? hint : undefined;
}

function parseCount(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

const DURATION_UNIT_MS: Record<string, number> = {
  h: 3_600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
  us: 0.001,
  ns: 1e-6,
};
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)/g;

/** OpenAI's Go-style durations ("1s", "6m0s", "20ms", "1h2m3.5s") or a bare number of seconds. */
export function parseDurationMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (text === "") return undefined;
  const seconds = Number(text);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined;
  let total = 0;
  let matchedChars = 0;
  for (const match of text.matchAll(DURATION_PART)) {
    total += Number(match[1]) * DURATION_UNIT_MS[match[2]];
    matchedChars += match[0].length;
  }
  return matchedChars === text.length ? total : undefined;
}
