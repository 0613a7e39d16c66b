/**
 * The provider contract: one model call (`complete`), one embeddings call (`embed`) and one
 * Responses API call (`respond`), provider-neutral. Field names are camelCase; where a type
 * passes an OpenAI or Anthropic object through unchanged its name says so.
 */

/** Who wrote a message. `tool` carries one tool's result back to the model. */
export type ChatRole = "system" | "user" | "assistant" | "tool";

/**
 * Anthropic's prompt-caching breakpoint. A text part carrying it marks the end of a cached
 * prefix (a system block, a user message); Anthropic honours it natively, OpenAI-compatible
 * upstreams cache prefixes on their own, so for them the marker is not sent.
 */
export interface CacheControl {
  type: "ephemeral";
  ttl?: "5m" | "1h";
}

export type ContentPart =
  | { type: "text"; text: string; cacheControl?: CacheControl }
  | {
      type: "image";
      mediaType: string;
      dataBase64: string;
      /** OpenAI's `image_url.detail` ("auto" is left unset); only OpenAI-compatible upstreams take it. */
      detail?: "low" | "high";
    };

/** A tool call the model asked for. */
export interface ToolCall {
  /** The provider's id (`call_…`, `toolu_…`): the tool result names it in `toolCallId`. */
  id: string;
  name: string;
  /** The arguments as the model wrote them: JSON text, not parsed (it may be invalid). */
  arguments: string;
}

/**
 * Anthropic's extended thinking as it came back, kept so that an assistant message with tool
 * calls can be sent again with its thinking (Anthropic requires it to continue a tool-using
 * turn with thinking on). Opaque to everything but the Anthropic provider.
 */
export type ThinkingBlock =
  | { type: "thinking"; thinking: string; signature: string }
  | { type: "redacted_thinking"; data: string };

export interface ChatMessage {
  role: ChatRole;
  /** Text or parts. An assistant message that only calls tools has "" (or no text part). */
  content: string | ContentPart[];
  /** Assistant messages: the tool calls the model made in this message. */
  toolCalls?: ToolCall[];
  /** Assistant messages (Anthropic): the thinking that preceded the text and tool calls. */
  thinking?: ThinkingBlock[];
  /** Tool messages: the `ToolCall.id` this message answers. */
  toolCallId?: string;
  /** Tool messages: the tool failed and `content` says why. */
  isError?: boolean;
}

/** A function the model may call. */
export interface ToolSpec {
  /** `^[a-zA-Z0-9_-]{1,64}$` on both OpenAI and Anthropic. */
  name: string;
  description?: string;
  /** JSON Schema of the arguments object. */
  parameters: Record<string, unknown>;
  /** OpenAI's strict mode (arguments guaranteed to match the schema). */
  strict?: boolean;
}

/**
 * Whether the model may (`auto`), must not (`none`), must (`required`) call a tool, or must call
 * the named one. OpenAI's values; Anthropic's `any` is `required`.
 */
export type ToolChoice = "auto" | "none" | "required" | { name: string };

/** Structured output: free text, any JSON object, or JSON matching a schema. */
export type ResponseFormat =
  | { type: "text" }
  | { type: "json_object" }
  | {
      type: "json_schema";
      jsonSchema: {
        /** `^[a-zA-Z0-9_-]{1,64}$`; Anthropic's forced tool is named after it. */
        name: string;
        schema: Record<string, unknown>;
        strict?: boolean;
        description?: string;
      };
    };

/** OpenAI's `reasoning_effort` values. */
export type ReasoningEffort = "none" | "minimal" | "low" | "medium" | "high" | "xhigh";

/** Anthropic's extended thinking: on with a token budget (at least 1024, below max_tokens), or off. */
export type ThinkingConfig = { type: "enabled"; budgetTokens: number } | { type: "disabled" };

/** What the engine asks of a provider: one model call. */
export interface ModelRequest {
  /** Model name without the provider prefix, e.g. `gpt-4o-mini` for `openai/gpt-4o-mini`. */
  model: string;
  messages: ChatMessage[];
  temperature?: number;
  /** `max_tokens`. */
  maxTokens?: number;
  /** `max_completion_tokens` (OpenAI's newer name; it includes reasoning tokens). */
  maxCompletionTokens?: number;
  topP?: number;
  /** Stop sequences. */
  stop?: string[];
  tools?: ToolSpec[];
  toolChoice?: ToolChoice;
  /** false: at most one tool call per model reply. */
  parallelToolCalls?: boolean;
  responseFormat?: ResponseFormat;
  seed?: number;
  frequencyPenalty?: number;
  presencePenalty?: number;
  /** Return the log probability of each output token (`ModelOutcome.logprobs`). */
  logprobs?: boolean;
  /** 0–20 most likely alternatives per token; needs `logprobs`. */
  topLogprobs?: number;
  /** The end user, for the provider's abuse monitoring (Anthropic: `metadata.user_id`). */
  user?: string;
  /** OpenAI's `metadata`: up to 16 string pairs. */
  metadata?: Record<string, string>;
  reasoningEffort?: ReasoningEffort;
  thinking?: ThinkingConfig;
  /** Provider-specific options from the agent (e.g. the simulator's latency and error rate). */
  options?: Record<string, unknown>;
}

export interface TokenUsage {
  /** Every prompt token, cached ones included (OpenAI's `prompt_tokens`). */
  promptTokens: number;
  /** Every completion token, reasoning included. */
  completionTokens: number;
  /** Of `promptTokens`, those read from the provider's prompt cache, when it says. */
  cachedPromptTokens?: number;
  /** Of `promptTokens`, those written to Anthropic's prompt cache, when it says. */
  cacheCreationTokens?: number;
  /** Of `completionTokens`, those spent reasoning, when the provider says. */
  reasoningTokens?: number;
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
 * True when a 2xx answer's rate-limit hint says the window is spent (no requests or no tokens
 * left): the limiter must learn it (its `release`) before another call starts, so such an
 * answer does not free its slot early (`HttpUpstream.post`'s `onAnswered`).
 */
export function windowSpent(hint: RateLimitHint | undefined): boolean {
  return hint?.remainingRequests === 0 || hint?.remainingTokens === 0;
}

/** One output token's log probability, in OpenAI's shape (passed through unchanged). */
export interface OpenAITokenLogprob {
  token: string;
  logprob: number;
  bytes: number[] | null;
  top_logprobs: Array<{ token: string; logprob: number; bytes: number[] | null }>;
}

/** OpenAI's `choices[].logprobs` object, passed through unchanged (streamed pieces joined). */
export interface OpenAILogprobs {
  content: OpenAITokenLogprob[] | null;
  refusal?: OpenAITokenLogprob[] | null;
}

/** A failure worth retrying: the code the item ends with if no retry is left (429, 500, 502, 504). */
export interface RetryableOutcome {
  kind: "retryable";
  code: number;
  message: string;
  retryAfterMs?: number;
  rateLimited: boolean;
  rateLimit?: RateLimitHint;
}

/** A failure that sending the same request again cannot fix. */
export interface FailedOutcome {
  kind: "failed";
  code: number;
  message: string;
}

/** A model call that answered. */
export interface ModelSuccess {
  kind: "success";
  /**
   * The answer's text. With `responseFormat` json_object / json_schema it is the JSON text as the
   * model wrote it (Anthropic: the forced tool's input, serialised); it is not validated here.
   */
  text: string;
  usage: TokenUsage;
  model: string;
  rateLimit?: RateLimitHint;
  /** Why the model stopped, in OpenAI's terms: stop, length, content_filter or tool_calls. */
  finishReason?: string;
  /** The tools the model asked to call (finishReason `tool_calls`); never empty when present. */
  toolCalls?: ToolCall[];
  /** Anthropic's thinking blocks: send them back on the assistant message when continuing. */
  thinking?: ThinkingBlock[];
  /** When `logprobs` was asked and the provider returned them. */
  logprobs?: OpenAILogprobs;
}

/**
 * The typed outcome of one model call. Providers never throw for upstream failures: they say
 * whether the failure is worth retrying, and after how long if the upstream told them.
 */
export type ModelOutcome = ModelSuccess | RetryableOutcome | FailedOutcome;

/** Streamed text, delivered as the upstream produces it (tool-call arguments are not text). */
export type DeltaListener = (delta: string) => void;

/** One embeddings call: several inputs in one upstream request. */
export interface EmbeddingRequest {
  model: string;
  /** At most `capabilities.maxEmbeddingInputs` texts. */
  input: string[];
  /** Output vector length, for models that can shorten their vectors. */
  dimensions?: number;
  /**
   * How the upstream is asked to encode vectors on the wire; the outcome always holds numbers
   * (the OpenAI batch shape encodes base64 itself when a line asks for it).
   */
  encodingFormat?: "float" | "base64";
  user?: string;
  /** Provider-specific options from the agent or line. */
  options?: Record<string, unknown>;
}

export type EmbeddingOutcome =
  | {
      kind: "success";
      /** One vector per input, in input order. */
      vectors: number[][];
      usage: { promptTokens: number };
      model: string;
      rateLimit?: RateLimitHint;
    }
  | RetryableOutcome
  | FailedOutcome;

/**
 * A Responses API call passed through to an upstream that serves `POST /v1/responses`: `body`
 * is the request object as the user wrote it (`input`, `instructions`, `tools`, `text`, ...);
 * `model` replaces its `model` (the routed name, without the provider prefix).
 */
export interface ResponsesRequest {
  model: string;
  body: Record<string, unknown>;
}

export type ResponsesOutcome =
  | {
      kind: "success";
      /** The upstream's Response object, unchanged. */
      response: Record<string, unknown>;
      /** Every `output_text` of its message items, joined (the SDK's `output_text`). */
      text: string;
      usage: TokenUsage;
      model: string;
      rateLimit?: RateLimitHint;
    }
  | RetryableOutcome
  | FailedOutcome;

/**
 * How a provider kind treats a request feature: `native` (sent as the provider's own field),
 * `translated` (mapped onto the provider's equivalent; see the README's table), or `refused`
 * (the provider answers `failed` 400 naming it, and callers should refuse it earlier).
 */
export type Support = "native" | "translated" | "refused";

/** The request features callers check, named after `ModelRequest`'s fields. */
export type RequestFeature =
  | "temperature"
  | "topP"
  | "stop"
  | "maxTokens"
  | "maxCompletionTokens"
  | "images"
  | "imageDetail"
  | "tools"
  | "toolChoice"
  | "parallelToolCalls"
  | "toolMessages"
  | "responseFormat.json_object"
  | "responseFormat.json_schema"
  | "seed"
  | "frequencyPenalty"
  | "presencePenalty"
  | "logprobs"
  | "topLogprobs"
  | "user"
  | "metadata"
  | "reasoningEffort"
  | "thinking"
  | "cacheControl";

/** Calls beyond `complete`. */
export type ProviderOperation = "stream" | "embed" | "respond";

export interface ProviderCapabilities {
  kind: "openai-compatible" | "anthropic" | "simulated";
  request: Readonly<Record<RequestFeature, Support>>;
  /** `native` when the provider implements the call; `refused` when it has none. */
  operations: Readonly<Record<ProviderOperation, "native" | "refused">>;
  /** Most inputs one `embed` call takes (the caller splits larger groups). */
  maxEmbeddingInputs: number;
}

/** What is called when a `CallSignal` aborts: a function, or an object's `handleEvent`, as an EventTarget takes them. */
export type AbortListener = ((event: Event) => void) | { handleEvent(event: Event): void };

/**
 * What a model call (and the wait for its permit) reads of the caller's stop: an `AbortSignal`
 * has it all, and so has the engine's per-item `ItemAbort`, which is cheaper to make than an
 * AbortController with its signal and listener map per item (bench/README.md, "Issue 17, garbage
 * per item"). A call that needs a real AbortSignal (to hand to an API that takes one) gets it from
 * its own AbortController, aborted from a listener on this.
 */
export interface CallSignal {
  readonly aborted: boolean;
  addEventListener(type: "abort", listener: AbortListener, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: AbortListener): void;
}

export interface ModelProvider {
  /** The provider's configured name: the part of `provider/model` before the slash. */
  readonly name: string;
  /** What it honours; see `capabilities.ts` for `refusedFeatures(request, capabilities)`. */
  readonly capabilities: ProviderCapabilities;
  /**
   * Calls the model once. `onDelta`, when given, receives text as it streams in. `onAnswered`, when
   * given, may be called once the upstream's whole 2xx answer is in, before it is read (the caller
   * frees the call's slot then); a provider that cannot tell never calls it.
   */
  complete(
    request: ModelRequest,
    signal: CallSignal,
    onDelta?: DeltaListener,
    onAnswered?: () => void,
  ): Promise<ModelOutcome>;
  /** Embeds every input in one upstream call (absent when `operations.embed` is refused). */
  embed?(request: EmbeddingRequest, signal: CallSignal): Promise<EmbeddingOutcome>;
  /** Passes a Responses API call through (absent when `operations.respond` is refused). */
  respond?(request: ResponsesRequest, signal: CallSignal): Promise<ResponsesOutcome>;
  /** Frees connections. */
  close(): Promise<void>;
}

/** Limits for one upstream (provider + model + key), shared by every worker. */
export interface UpstreamLimits {
  rpm?: number;
  tpm?: number;
  maxConcurrency?: number;
}
