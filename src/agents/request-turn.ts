import { refusedFeatures } from "../providers/capabilities.js";
import { contentText, countTokens } from "../providers/text.js";
import type {
  EmbeddingRequest,
  ModelRequest,
  ProviderCapabilities,
  RequestFeature,
  ResponsesRequest,
} from "../providers/types.js";
import type { ChatItemRequest, ItemRequest } from "../store/types.js";
import { chatRequestOfResponses } from "./responses-via-chat.js";

/** The request field each feature is written as (the OpenAI shape's names; Anthropic's where only it has one). */
const FEATURE_FIELDS: Record<RequestFeature, string> = {
  temperature: "temperature",
  topP: "top_p",
  stop: "stop",
  maxTokens: "max_tokens",
  maxCompletionTokens: "max_completion_tokens",
  images: "image content parts",
  imageDetail: "image_url.detail",
  tools: "tools",
  toolChoice: "tool_choice",
  parallelToolCalls: "parallel_tool_calls",
  toolMessages: "tool messages",
  "responseFormat.json_object": "response_format (json_object)",
  "responseFormat.json_schema": "response_format (json_schema)",
  seed: "seed",
  frequencyPenalty: "frequency_penalty",
  presencePenalty: "presence_penalty",
  logprobs: "logprobs",
  topLogprobs: "top_logprobs",
  user: "user",
  metadata: "metadata",
  reasoningEffort: "reasoning_effort",
  thinking: "thinking",
  cacheControl: "cache_control",
};

/** The wire name of a request feature, for errors that name the field. */
export function featureField(feature: RequestFeature): string {
  return FEATURE_FIELDS[feature];
}

/** A chat item request as the provider's request (everything but the routing fields). */
export function modelRequestOf(req: ChatItemRequest, model: string): ModelRequest {
  const { model: _routed, requestedModel: _requested, operation: _operation, ...fields } = req;
  return { ...fields, model };
}

/**
 * Why a provider cannot run a request, naming each field it cannot honour; null when it can.
 * Checked before the rate limiter, so a refused line costs no request against the upstream.
 */
export function refusalMessage(
  provider: string,
  capabilities: ProviderCapabilities,
  request: ModelRequest,
): string | null {
  const refused = refusedFeatures(request, capabilities);
  if (refused.length === 0) return null;
  const fields = refused.map(featureField).join(", ");
  return `${fields}: not supported by provider "${provider}" (${capabilities.kind}); remove ${refused.length > 1 ? "these fields" : "this field"} or route the model to a provider that honours ${refused.length > 1 ? "them" : "it"}`;
}

/** Tokens a chat request may use: its prompt (four characters a token) plus its completion budget. */
export function chatTokenEstimate(request: ModelRequest, defaultBudget: number): number {
  let promptChars = 0;
  for (const m of request.messages) promptChars += contentText(m.content).length;
  for (const t of request.tools ?? []) promptChars += JSON.stringify(t).length;
  const budget = request.maxCompletionTokens ?? request.maxTokens ?? defaultBudget;
  return Math.ceil(promptChars / 4) + budget;
}

/** Tokens an embeddings request counts. */
export function embeddingTokenEstimate(input: string[]): number {
  let tokens = 0;
  for (const text of input) tokens += Math.max(1, countTokens(text));
  return tokens;
}

export type RequestCall =
  | { operation: "complete"; request: ModelRequest; responsesBody?: Record<string, unknown> }
  | { operation: "embed"; request: EmbeddingRequest }
  | { operation: "respond"; request: ResponsesRequest };

/**
 * The provider call of an item request on a provider with `capabilities`: a chat completion, an
 * embeddings call, or a Responses call (passed through where the provider serves it, mapped onto
 * a chat completion otherwise). An error names what the provider cannot do.
 */
export function requestCall(
  req: ItemRequest,
  provider: string,
  model: string,
  capabilities: ProviderCapabilities,
): { ok: true; call: RequestCall } | { ok: false; message: string } {
  if (req.operation === "embeddings") {
    if (capabilities.operations.embed === "refused") {
      return {
        ok: false,
        message: `/v1/embeddings: provider "${provider}" (${capabilities.kind}) has no embeddings endpoint`,
      };
    }
    const { model: _m, requestedModel: _r, operation: _o, ...fields } = req;
    return { ok: true, call: { operation: "embed", request: { ...fields, model } } };
  }
  if (req.operation === "responses") {
    if (capabilities.operations.respond === "native") {
      return { ok: true, call: { operation: "respond", request: { model, body: req.body } } };
    }
    const mapped = chatRequestOfResponses(req.body, model);
    if (!mapped.ok) return mapped;
    const refused = refusalMessage(provider, capabilities, mapped.request);
    if (refused) return { ok: false, message: refused };
    return { ok: true, call: { operation: "complete", request: mapped.request, responsesBody: req.body } };
  }
  const request = modelRequestOf(req, model);
  const refused = refusalMessage(provider, capabilities, request);
  if (refused) return { ok: false, message: refused };
  return { ok: true, call: { operation: "complete", request } };
}
