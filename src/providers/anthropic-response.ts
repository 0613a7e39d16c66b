import { responseToolName } from "./anthropic-request.js";
import { type ResponseBody, truncate } from "./http-upstream.js";
import { retryable } from "./outcomes.js";
import { readSseEvents } from "./sse.js";
import type {
  DeltaListener,
  ModelOutcome,
  ModelRequest,
  ModelSuccess,
  RateLimitHint,
  ThinkingBlock,
  TokenUsage,
  ToolCall,
} from "./types.js";

/** Anthropic's usage, cache reads and writes counted apart from `input_tokens`. */
interface AnthropicUsage {
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

interface WireBlock {
  type?: string;
  text?: string;
  id?: string;
  name?: string;
  input?: unknown;
  thinking?: string;
  signature?: string;
  data?: string;
}

interface MessagePayload {
  model?: string;
  content?: WireBlock[];
  stop_reason?: string | null;
  usage?: AnthropicUsage;
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

/** A whole message: text, tool calls (or the structured answer), thinking, usage, stop reason. */
export function readMessage(
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
  const blocks = payload.content.map((b) =>
    b.type === "tool_use" ? { ...b, json: JSON.stringify(b.input ?? {}) } : { ...b, json: "" },
  );
  const outcome = toOutcome(blocks, request, payload.model, payload.usage, payload.stop_reason, rateLimit);
  if (onDelta && outcome.text) onDelta(outcome.text);
  return outcome;
}

/**
 * The outcome of a message's blocks. When the model called the structured-output tool, its
 * input is the answer's text and the turn stopped (`stop`); other tool_use blocks are tool calls.
 */
function toOutcome(
  blocks: Array<WireBlock & { json: string }>,
  request: ModelRequest,
  model: string | undefined,
  usage: AnthropicUsage | undefined,
  stopReason: string | null | undefined,
  rateLimit: RateLimitHint | undefined,
): ModelSuccess {
  const responseTool = responseToolName(request);
  let text = "";
  let answer: string | undefined;
  const toolCalls: ToolCall[] = [];
  const thinking: ThinkingBlock[] = [];
  for (const b of blocks) {
    if (b.type === "text") text += b.text ?? "";
    else if (b.type === "tool_use" && b.name === responseTool) answer = b.json;
    else if (b.type === "tool_use") toolCalls.push({ id: b.id ?? "", name: b.name ?? "", arguments: b.json });
    else if (b.type === "thinking")
      thinking.push({ type: "thinking", thinking: b.thinking ?? "", signature: b.signature ?? "" });
    else if (b.type === "redacted_thinking") thinking.push({ type: "redacted_thinking", data: b.data ?? "" });
  }
  const outcome: ModelSuccess = {
    kind: "success",
    text: answer ?? text,
    model: model ?? request.model,
    usage: toUsage(usage),
    finishReason:
      answer !== undefined && toolCalls.length === 0
        ? "stop"
        : (FINISH_REASONS[stopReason ?? "end_turn"] ?? "stop"),
  };
  if (toolCalls.length > 0) outcome.toolCalls = toolCalls;
  if (thinking.length > 0) outcome.thinking = thinking;
  if (rateLimit) outcome.rateLimit = rateLimit;
  return outcome;
}

function toUsage(usage: AnthropicUsage | undefined): TokenUsage {
  const created = usage?.cache_creation_input_tokens ?? 0;
  const read = usage?.cache_read_input_tokens ?? 0;
  const out: TokenUsage = {
    promptTokens: (usage?.input_tokens ?? 0) + created + read,
    completionTokens: usage?.output_tokens ?? 0,
  };
  // A count the upstream gave is kept, 0 included (a call that found nothing cached).
  if (typeof usage?.cache_read_input_tokens === "number") out.cachedPromptTokens = read;
  if (created > 0) out.cacheCreationTokens = created;
  return out;
}

/** What an Anthropic stream has said so far: its blocks by index, assembled from their deltas. */
class StreamState {
  readonly blocks: Array<WireBlock & { json: string }> = [];
  model: string | undefined;
  usage: AnthropicUsage = {};
  stopReason: string | null | undefined;
  error: { type: string; message: string } | undefined;
  stopped = false;

  constructor(
    private readonly responseTool: string | undefined,
    private readonly onDelta: DeltaListener,
  ) {}

  apply(raw: string): void {
    let event: any;
    try {
      event = JSON.parse(raw);
    } catch {
      this.error = {
        type: "invalid_event",
        message: `upstream sent an invalid stream event: ${truncate(raw)}`,
      };
      return;
    }
    switch (event?.type) {
      case "message_start":
        this.model = event.message?.model ?? this.model;
        mergeUsage(this.usage, event.message?.usage);
        break;
      case "content_block_start":
        this.blocks[event.index ?? this.blocks.length] = { ...event.content_block, json: "" };
        break;
      case "content_block_delta":
        this.applyDelta(this.blocks[event.index], event.delta);
        break;
      case "message_delta":
        this.stopReason = event.delta?.stop_reason ?? this.stopReason;
        mergeUsage(this.usage, event.usage);
        break;
      case "message_stop":
        this.stopped = true;
        break;
      case "error":
        this.error = {
          type: event.error?.type ?? "api_error",
          message: event.error?.message ?? "upstream stream error",
        };
        break;
    }
  }

  /** Text streams to the listener; so does the structured answer's JSON, which is the answer's text. */
  private applyDelta(block: (WireBlock & { json: string }) | undefined, delta: any): void {
    if (!block || !delta) return;
    if (delta.type === "text_delta" && typeof delta.text === "string") {
      block.text = (block.text ?? "") + delta.text;
      if (this.responseTool === undefined && delta.text) this.onDelta(delta.text);
    } else if (delta.type === "input_json_delta" && typeof delta.partial_json === "string") {
      block.json += delta.partial_json;
      if (block.name === this.responseTool && delta.partial_json) this.onDelta(delta.partial_json);
    } else if (delta.type === "thinking_delta")
      block.thinking = (block.thinking ?? "") + (delta.thinking ?? "");
    else if (delta.type === "signature_delta")
      block.signature = (block.signature ?? "") + (delta.signature ?? "");
  }
}

/** Takes the counts an event states (message_delta may repeat some as null). */
function mergeUsage(into: AnthropicUsage, from: Record<string, unknown> | undefined): void {
  if (!from) return;
  for (const key of [
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
  ] as const) {
    const value = from[key];
    if (typeof value === "number") into[key] = value;
  }
}

/** Reads Anthropic's SSE events to the end: blocks assembled from their deltas, usage, stop reason. */
export async function readStream(
  body: ResponseBody,
  request: ModelRequest,
  onDelta: DeltaListener,
  rateLimit: RateLimitHint | undefined,
): Promise<ModelOutcome> {
  const state = new StreamState(responseToolName(request), onDelta);
  // Read to the end even after message_stop or an error, so the connection goes back to the pool.
  for await (const event of readSseEvents(body)) {
    if (!state.stopped && !state.error) state.apply(event.data);
  }
  if (state.error) return streamErrorOutcome(state.error, rateLimit);
  if (!state.stopped) return retryable(502, "upstream stream ended early", false, { rateLimit });
  const blocks = state.blocks
    .filter((b) => b !== undefined)
    .map((b) => (b.type === "tool_use" && b.json === "" ? { ...b, json: "{}" } : b));
  return toOutcome(blocks, request, state.model, state.usage, state.stopReason, rateLimit);
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
