import { randomUUID } from "node:crypto";
import type {
  CallSignal,
  DeltaListener,
  EmbeddingOutcome,
  ModelOutcome,
  ModelProvider,
  ModelSuccess,
} from "../providers/types.js";
import type { ResponseDetail } from "../store/types.js";
import type { RequestCall } from "./request-turn.js";
import { responseOfChat } from "./responses-via-chat.js";

/** A provider call's outcome in the chat shape the limiter and the engine read, and what it held beyond text. */
export interface CallResult {
  outcome: ModelOutcome;
  detail?: ResponseDetail;
}

/**
 * Makes the call: a chat completion (its tool calls, logprobs and thinking kept as detail; a
 * Responses request mapped onto chat gets its Response object built), an embeddings call (the
 * vectors as detail, no text), or a Responses call passed through (the Response object as detail).
 */
export async function callProvider(
  provider: ModelProvider,
  call: RequestCall,
  signal: CallSignal,
  onDelta?: DeltaListener,
  onAnswered?: () => void,
): Promise<CallResult> {
  if (call.operation === "embed") {
    if (!provider.embed) return { outcome: noOperation(provider, "embeddings") };
    return embeddingResult(await provider.embed(call.request, signal));
  }
  if (call.operation === "respond") {
    if (!provider.respond) return { outcome: noOperation(provider, "responses") };
    const out = await provider.respond(call.request, signal);
    if (out.kind !== "success") return { outcome: out };
    const outcome: ModelSuccess = {
      kind: "success",
      text: out.text,
      usage: out.usage,
      model: out.model,
      ...(out.rateLimit ? { rateLimit: out.rateLimit } : {}),
    };
    return { outcome, detail: { response: out.response, usage: out.usage } };
  }
  const outcome = await provider.complete(call.request, signal, onDelta, onAnswered);
  if (outcome.kind !== "success") return { outcome };
  if (call.responsesBody) {
    const id = randomUUID().replace(/-/g, "");
    const created = Math.floor(Date.now() / 1000);
    const response = responseOfChat(call.responsesBody, outcome, id, created);
    return { outcome, detail: { response, ...(chatDetail(outcome)?.usage ? { usage: outcome.usage } : {}) } };
  }
  return { outcome, detail: chatDetail(outcome) };
}

/** An embeddings outcome as a call result: no text, prompt tokens only, the vectors as detail. */
export function embeddingResult(out: EmbeddingOutcome): CallResult {
  if (out.kind !== "success") return { outcome: out };
  const outcome: ModelSuccess = {
    kind: "success",
    text: "",
    usage: { promptTokens: out.usage.promptTokens, completionTokens: 0 },
    model: out.model,
    ...(out.rateLimit ? { rateLimit: out.rateLimit } : {}),
  };
  return { outcome, detail: { embeddings: out.vectors } };
}

function chatDetail(outcome: ModelSuccess): ResponseDetail | undefined {
  // Most answers have none of these: no object (and no key list) made for them.
  const u = outcome.usage;
  const usage = u.cachedPromptTokens || u.cacheCreationTokens || u.reasoningTokens;
  const toolCalls = outcome.toolCalls !== undefined && outcome.toolCalls.length > 0;
  const thinking = outcome.thinking !== undefined && outcome.thinking.length > 0;
  if (!toolCalls && !outcome.logprobs && !thinking && !usage) return undefined;
  const detail: ResponseDetail = {};
  if (toolCalls) detail.toolCalls = outcome.toolCalls;
  if (outcome.logprobs) detail.logprobs = outcome.logprobs;
  if (thinking) detail.thinking = outcome.thinking;
  if (usage) detail.usage = u;
  return detail;
}

function noOperation(provider: ModelProvider, what: string): ModelOutcome {
  return { kind: "failed", code: 400, message: `provider "${provider.name}" has no ${what} endpoint` };
}
