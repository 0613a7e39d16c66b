/** One chat turn sent to a model. `content` is plain text or parts (text and images). */
export type ChatRole = "system" | "user" | "assistant";

export type ContentPart =
  | { type: "text"; text: string }
  | { type: "image"; mediaType: string; dataBase64: string };

export interface ChatMessage {
  role: ChatRole;
  content: string | ContentPart[];
}

/** What the engine asks of a provider: one model call. */
export interface ModelRequest {
  /** Model name without the provider prefix, e.g. `gpt-4o-mini` for `openai/gpt-4o-mini`. */
  model: string;
  messages: ChatMessage[];
  temperature?: number;
  maxTokens?: number;
  topP?: number;
  /** Stop sequences. */
  stop?: string[];
  /** Provider-specific options from the agent (e.g. the simulator's latency and error rate). */
  options?: Record<string, unknown>;
}

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
}

/** Rate-limit state reported by the upstream in its response headers, when it says. */
export interface RateLimitHint {
  remainingRequests?: number;
  remainingTokens?: number;
  /** Milliseconds until the request window resets. */
  resetRequestsMs?: number;
  resetTokensMs?: number;
}

/**
 * The typed outcome of one model call. Providers never throw for upstream failures: they say
 * whether the failure is worth retrying, and after how long if the upstream told them.
 */
export type ModelOutcome =
  | {
      kind: "success";
      text: string;
      usage: TokenUsage;
      model: string;
      rateLimit?: RateLimitHint;
      /** Why the model stopped, in OpenAI's terms: stop, length, content_filter or tool_calls. */
      finishReason?: string;
    }
  | {
      kind: "retryable";
      /** The code the item ends with if no retry is left: 429, 500, 502 or 504. */
      code: number;
      message: string;
      retryAfterMs?: number;
      rateLimited: boolean;
      rateLimit?: RateLimitHint;
    }
  | { kind: "failed"; code: number; message: string };

/** Streamed text, delivered as the upstream produces it. */
export type DeltaListener = (delta: string) => void;

export interface ModelProvider {
  /** The provider's configured name: the part of `provider/model` before the slash. */
  readonly name: string;
  /** Calls the model once. `onDelta`, when given, receives text as it streams in. */
  complete(request: ModelRequest, signal: AbortSignal, onDelta?: DeltaListener): Promise<ModelOutcome>;
  /** Frees connections. */
  close(): Promise<void>;
}

/** Limits for one upstream (provider + model + key), shared by every worker. */
export interface UpstreamLimits {
  rpm?: number;
  tpm?: number;
  maxConcurrency?: number;
}
