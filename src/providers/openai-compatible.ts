import type { IncomingHttpHeaders } from "node:http";
import type { ProviderConfig } from "../config/index.js";
import { OPENAI_COMPATIBLE_CAPABILITIES, refusalOutcome, refusedFeatures } from "./capabilities.js";
import { HttpUpstream, header, truncate, type UpstreamResponse } from "./http-upstream.js";
import { embeddingsRequestBody, readEmbeddings } from "./openai-embeddings.js";
import { openAIRequestBody } from "./openai-request.js";
import { readCompletion, readStream } from "./openai-response.js";
import { readResponse, responsesRequestBody } from "./openai-responses.js";
import { outcomeForHttpError } from "./outcomes.js";
import type {
  CallSignal,
  DeltaListener,
  EmbeddingOutcome,
  EmbeddingRequest,
  FailedOutcome,
  ModelOutcome,
  ModelProvider,
  ModelRequest,
  RateLimitHint,
  ResponsesOutcome,
  ResponsesRequest,
  RetryableOutcome,
} from "./types.js";
import { windowSpent } from "./types.js";
import { capUpstreamWaitMs } from "./upstream-wait.js";

const DEFAULT_BASE_URL = "https://api.openai.com/v1";

/**
 * Any server speaking OpenAI's API (OpenAI, vLLM, Ollama, llama.cpp, the mock): chat completions
 * (tools, structured output, logprobs; SSE streaming with tool calls assembled), embeddings
 * (`POST {base}/embeddings`) and the Responses API (`POST {base}/responses`, passed through).
 */
export class OpenAICompatibleProvider implements ModelProvider {
  readonly name: string;
  readonly capabilities = OPENAI_COMPATIBLE_CAPABILITIES;
  private readonly upstream: HttpUpstream;
  private readonly base: string;
  private readonly headers: Record<string, string>;

  constructor(name: string, cfg: ProviderConfig, defaults: { timeoutMs: number }) {
    this.name = name;
    const base = new URL(cfg.baseUrl ?? DEFAULT_BASE_URL);
    this.base = base.pathname.replace(/\/+$/, "");
    this.headers = { "content-type": "application/json", accept: "application/json, text/event-stream" };
    if (cfg.apiKey) this.headers.authorization = `Bearer ${cfg.apiKey}`;
    this.upstream = new HttpUpstream(base.origin, cfg.timeoutMs ?? defaults.timeoutMs, cfg.maxConcurrency);
  }

  complete(
    request: ModelRequest,
    signal: CallSignal,
    onDelta?: DeltaListener,
    onAnswered?: () => void,
  ): Promise<ModelOutcome> {
    const refused = refusedFeatures(request, this.capabilities);
    if (refused.length > 0) return Promise.resolve(refusalOutcome(this.name, this.capabilities, refused));
    const body = openAIRequestBody(request, onDelta !== undefined);
    return this.upstream.post(
      this.path("chat/completions"),
      this.headers,
      body,
      signal,
      // Not async: a body read whole (every call that is not streamed) is parsed at once, without
      // a promise and two microtask turns per call; a throw is caught by `post` as a rejection was.
      (response): ModelOutcome | Promise<ModelOutcome> => {
        const rateLimit = parseRateLimitHint(response.headers);
        if (!ok(response)) return errorOutcome(response, rateLimit);
        const isStream =
          onDelta !== undefined && header(response.headers, "content-type")?.includes("event-stream");
        if (isStream) return readStream(response.body, request, onDelta, rateLimit);
        const { whole } = response.body;
        if (whole !== undefined) return readCompletion(whole, request, onDelta, rateLimit);
        return response.body.text().then((text) => readCompletion(text, request, onDelta, rateLimit));
      },
      onDelta !== undefined,
      onAnswered,
      spentWindow,
    );
  }

  /** Every input in one `POST {base}/embeddings`. */
  embed(request: EmbeddingRequest, signal: CallSignal): Promise<EmbeddingOutcome> {
    const max = this.capabilities.maxEmbeddingInputs;
    if (request.input.length === 0 || request.input.length > max) {
      return Promise.resolve(
        failed(`an embeddings call takes 1 to ${max} inputs, not ${request.input.length}`),
      );
    }
    return this.postWhole("embeddings", embeddingsRequestBody(request), signal, (text, rateLimit) =>
      readEmbeddings(text, request, rateLimit),
    );
  }

  /** The Responses API passed through (`POST {base}/responses`), without streaming. */
  respond(request: ResponsesRequest, signal: CallSignal): Promise<ResponsesOutcome> {
    if (request.body.stream === true)
      return Promise.resolve(failed("a passed-through Responses call does not stream"));
    return this.postWhole("responses", responsesRequestBody(request), signal, (text, rateLimit) =>
      readResponse(text, request, rateLimit),
    );
  }

  /** A non-streamed call whose whole answer `read` turns into an outcome (an HTTP error becomes one here). */
  private postWhole<T>(
    endpoint: string,
    body: unknown,
    signal: CallSignal,
    read: (text: string, rateLimit: RateLimitHint | undefined) => T,
  ): Promise<T | FailedOutcome | RetryableOutcome> {
    return this.upstream.post(
      this.path(endpoint),
      this.headers,
      body,
      signal,
      async (response) => {
        const rateLimit = parseRateLimitHint(response.headers);
        if (!ok(response)) return errorOutcome(response, rateLimit);
        return read(await response.body.text(), rateLimit);
      },
      false,
    );
  }

  close(): Promise<void> {
    return this.upstream.close();
  }

  private path(endpoint: string): string {
    return `${this.base}/${endpoint}`;
  }
}

function ok(response: UpstreamResponse): boolean {
  return response.statusCode >= 200 && response.statusCode < 300;
}

function failed(message: string): FailedOutcome {
  return { kind: "failed", code: 400, message };
}

async function errorOutcome(
  response: UpstreamResponse,
  rateLimit: RateLimitHint | undefined,
): Promise<RetryableOutcome | FailedOutcome> {
  const message = `upstream ${response.statusCode}: ${errorMessage(await response.body.text())}`;
  return outcomeForHttpError(response.statusCode, message, {
    retryAfterMs: parseRetryAfterMs(response.headers),
    rateLimit,
  });
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
  const ms = rawRetryAfterMs(headers, now);
  return ms === undefined ? undefined : capUpstreamWaitMs(ms);
}

function rawRetryAfterMs(headers: IncomingHttpHeaders, now: number): number | undefined {
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

/** A 2xx answer whose `x-ratelimit-*` headers say the window is spent (see `windowSpent`). */
function spentWindow(headers: IncomingHttpHeaders): boolean {
  return windowSpent(parseRateLimitHint(headers));
}

/** OpenAI's `x-ratelimit-*` headers, when the upstream sends them. */
export function parseRateLimitHint(headers: IncomingHttpHeaders): RateLimitHint | undefined {
  // No object made for an answer without them (asked twice per answer: `spentWindow`, the read).
  let hint: RateLimitHint | undefined;
  const remainingRequests = parseCount(header(headers, "x-ratelimit-remaining-requests"));
  if (remainingRequests !== undefined) {
    hint ??= {};
    hint.remainingRequests = remainingRequests;
  }
  const remainingTokens = parseCount(header(headers, "x-ratelimit-remaining-tokens"));
  if (remainingTokens !== undefined) {
    hint ??= {};
    hint.remainingTokens = remainingTokens;
  }
  const resetRequests = parseDurationMs(header(headers, "x-ratelimit-reset-requests"));
  if (resetRequests !== undefined) {
    hint ??= {};
    hint.resetRequestsMs = capUpstreamWaitMs(resetRequests);
  }
  const resetTokens = parseDurationMs(header(headers, "x-ratelimit-reset-tokens"));
  if (resetTokens !== undefined) {
    hint ??= {};
    hint.resetTokensMs = capUpstreamWaitMs(resetTokens);
  }
  return hint;
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
