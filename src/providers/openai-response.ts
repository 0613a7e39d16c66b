import { type ResponseBody, truncate } from "./http-upstream.js";
import { retryable } from "./outcomes.js";
import { readSseEvents } from "./sse.js";
import { contentText, countTokens } from "./text.js";
import type {
  DeltaListener,
  ModelOutcome,
  ModelRequest,
  ModelSuccess,
  OpenAILogprobs,
  OpenAITokenLogprob,
  RateLimitHint,
  TokenUsage,
  ToolCall,
} from "./types.js";

/** OpenAI's usage object, with the details the contract keeps. */
export interface OpenAIUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number } | null;
  completion_tokens_details?: { reasoning_tokens?: number } | null;
}

interface WireToolCall {
  index?: number;
  id?: string;
  function?: { name?: string; arguments?: string };
}

interface CompletionPayload {
  model?: string;
  choices?: Array<{
    message?: { content?: string | null; refusal?: string | null; tool_calls?: WireToolCall[] | null };
    finish_reason?: string | null;
    logprobs?: OpenAILogprobs | null;
  }>;
  usage?: OpenAIUsage | null;
}

interface ChunkPayload {
  model?: string;
  choices?: Array<{
    delta?: { content?: string | null; refusal?: string | null; tool_calls?: WireToolCall[] | null };
    finish_reason?: string | null;
    logprobs?: OpenAILogprobs | null;
  }>;
  usage?: OpenAIUsage | null;
  error?: unknown;
}

/** A whole chat completion: text (or refusal), tool calls, finish reason, logprobs, usage. */
export function readCompletion(
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
  const choice = payload.choices?.[0];
  const message = choice?.message;
  if (!message) return retryable(502, `upstream sent no choices: ${truncate(raw)}`, false, { rateLimit });
  const text = message.content ?? message.refusal ?? "";
  // A server that ignored `stream` still owes the listener the text.
  if (onDelta && text) onDelta(text);
  // Most answers have no tool calls: no empty array mapped for them.
  const toolCalls = message.tool_calls?.map(
    (call): ToolCall => ({
      id: call.id ?? "",
      name: call.function?.name ?? "",
      arguments: call.function?.arguments ?? "",
    }),
  );
  const outcome = success(
    text,
    payload.model ?? request.model,
    usageOrEstimate(payload.usage, request, text),
  );
  if (choice.finish_reason) outcome.finishReason = choice.finish_reason;
  if (toolCalls !== undefined && toolCalls.length > 0) outcome.toolCalls = toolCalls;
  if (choice.logprobs) outcome.logprobs = choice.logprobs;
  if (rateLimit) outcome.rateLimit = rateLimit;
  return outcome;
}

/** What a chat completions stream has said so far. */
class StreamState {
  readonly parts: string[] = [];
  /** Tool calls by their `index`, their arguments arriving in pieces. */
  readonly calls = new Map<number, { id: string; name: string; args: string[] }>();
  logprobs: OpenAITokenLogprob[] | undefined;
  model: string | undefined;
  usage: OpenAIUsage | null | undefined;
  finishReason: string | undefined;
  error: string | undefined;
  done = false;

  apply(data: string, onDelta: DeltaListener): void {
    if (data === "[DONE]") {
      this.done = true;
      return;
    }
    if (this.done || this.error !== undefined) return;
    let chunk: ChunkPayload;
    try {
      chunk = JSON.parse(data) as ChunkPayload;
    } catch {
      this.error = `upstream sent an invalid stream event: ${truncate(data)}`;
      return;
    }
    if (chunk.error !== undefined) {
      this.error = `upstream stream error: ${truncate(JSON.stringify(chunk.error))}`;
      return;
    }
    if (chunk.model) this.model = chunk.model;
    if (chunk.usage) this.usage = chunk.usage;
    const choice = chunk.choices?.[0];
    if (!choice) return;
    const text = choice.delta?.content ?? choice.delta?.refusal;
    if (text) {
      this.parts.push(text);
      onDelta(text);
    }
    for (const piece of choice.delta?.tool_calls ?? []) this.addToolCallPiece(piece);
    if (choice.logprobs?.content) {
      this.logprobs ??= [];
      this.logprobs.push(...choice.logprobs.content);
    }
    // Usage arrives in a chunk after finish_reason, so only [DONE] or the body's end stop reading.
    if (choice.finish_reason) this.finishReason = choice.finish_reason;
  }

  /** The first piece of a call has its id and name; later ones add to its arguments. */
  private addToolCallPiece(piece: WireToolCall): void {
    const index = piece.index ?? this.calls.size;
    let call = this.calls.get(index);
    if (!call) {
      call = { id: "", name: "", args: [] };
      this.calls.set(index, call);
    }
    if (piece.id) call.id = piece.id;
    if (piece.function?.name) call.name += piece.function.name;
    if (piece.function?.arguments) call.args.push(piece.function.arguments);
  }

  toolCalls(): ToolCall[] {
    return [...this.calls.entries()]
      .sort(([a], [b]) => a - b)
      .map(([, call]) => ({ id: call.id, name: call.name, arguments: call.args.join("") }));
  }
}

/** Reads OpenAI's server-sent events as they arrive: text deltas passed on, tool calls assembled. */
export async function readStream(
  body: ResponseBody,
  request: ModelRequest,
  onDelta: DeltaListener,
  rateLimit: RateLimitHint | undefined,
): Promise<ModelOutcome> {
  const state = new StreamState();
  for await (const event of readSseEvents(body)) state.apply(event.data, onDelta);
  if (state.error !== undefined) return retryable(502, state.error, false, { rateLimit });
  if (!state.done && state.finishReason === undefined) {
    return retryable(502, "upstream stream ended early", false, { rateLimit });
  }
  const text = state.parts.join("");
  const outcome = success(text, state.model ?? request.model, usageOrEstimate(state.usage, request, text));
  if (state.finishReason) outcome.finishReason = state.finishReason;
  const toolCalls = state.toolCalls();
  if (toolCalls.length > 0) outcome.toolCalls = toolCalls;
  if (state.logprobs) outcome.logprobs = { content: state.logprobs, refusal: null };
  if (rateLimit) outcome.rateLimit = rateLimit;
  return outcome;
}

function success(text: string, model: string, usage: TokenUsage): ModelSuccess {
  return { kind: "success", text, usage, model };
}

/** The upstream's usage with its details; servers that omit it (some local ones) get an estimate. */
export function usageOrEstimate(
  usage: OpenAIUsage | null | undefined,
  request: ModelRequest,
  text: string,
): TokenUsage {
  if (usage && typeof usage.prompt_tokens === "number" && typeof usage.completion_tokens === "number") {
    const out: TokenUsage = { promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens };
    const cached = usage.prompt_tokens_details?.cached_tokens;
    // A count the upstream gave is kept, 0 included (a call that found nothing cached).
    if (typeof cached === "number" && cached >= 0) out.cachedPromptTokens = cached;
    const reasoning = usage.completion_tokens_details?.reasoning_tokens;
    if (typeof reasoning === "number" && reasoning > 0) out.reasoningTokens = reasoning;
    return out;
  }
  let promptTokens = 0;
  for (const message of request.messages) promptTokens += countTokens(contentText(message.content));
  return { promptTokens, completionTokens: countTokens(text) };
}
