import type { IncomingHttpHeaders } from "node:http";
import type { ProviderConfig } from "../config/index.js";
import { anthropicRequestBody, anthropicRequestProblem } from "./anthropic-request.js";
import { readMessage, readStream } from "./anthropic-response.js";
import { ANTHROPIC_CAPABILITIES, refusalOutcome, refusedFeatures } from "./capabilities.js";
import { HttpUpstream, header, truncate } from "./http-upstream.js";
import { parseRetryAfterMs } from "./openai-compatible.js";
import { outcomeForHttpError } from "./outcomes.js";
import type {
  CallSignal,
  DeltaListener,
  ModelOutcome,
  ModelProvider,
  ModelRequest,
  RateLimitHint,
} from "./types.js";
import { windowSpent } from "./types.js";
import { capUpstreamWaitMs } from "./upstream-wait.js";

const DEFAULT_BASE_URL = "https://api.anthropic.com";
const API_VERSION = "2023-06-01";

/**
 * Anthropic's Messages API (`POST {base}/v1/messages`) over one keep-alive undici pool: the
 * request translated by `anthropic-request.ts` (tools, tool results, structured output as a
 * forced tool, cache_control, thinking), the answer read by `anthropic-response.ts` (JSON or
 * SSE, tool_use blocks as tool calls), the `anthropic-ratelimit-*` headers fed to the limiter.
 * Fields Anthropic cannot honour (seed, penalties, logprobs, metadata, reasoning_effort) are
 * refused with a 400 naming them; it has no embeddings.
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

  complete(
    request: ModelRequest,
    signal: CallSignal,
    onDelta?: DeltaListener,
    onAnswered?: () => void,
  ): Promise<ModelOutcome> {
    const refused = refusedFeatures(request, this.capabilities);
    if (refused.length > 0) return Promise.resolve(refusalOutcome(this.name, this.capabilities, refused));
    const problem = anthropicRequestProblem(request);
    if (problem) return Promise.resolve({ kind: "failed", code: 400, message: problem });
    const body = anthropicRequestBody(request, onDelta !== undefined);
    return this.upstream.post(
      this.path,
      this.headers,
      body,
      signal,
      async (response) => {
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
      },
      onDelta !== undefined,
      onAnswered,
      (headers) => windowSpent(parseAnthropicRateLimit(headers)),
    );
  }

  close(): Promise<void> {
    return this.upstream.close();
  }
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
  return Number.isNaN(at) ? undefined : capUpstreamWaitMs(at - now);
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
