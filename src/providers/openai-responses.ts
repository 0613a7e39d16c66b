import { truncate } from "./http-upstream.js";
import { retryable } from "./outcomes.js";
import type { RateLimitHint, ResponsesOutcome, ResponsesRequest, TokenUsage } from "./types.js";

type Json = Record<string, unknown>;

interface ResponsesUsage {
  input_tokens?: number;
  output_tokens?: number;
  input_tokens_details?: { cached_tokens?: number } | null;
  output_tokens_details?: { reasoning_tokens?: number } | null;
}

/** `POST /responses` body: the user's request object with the routed model. */
export function responsesRequestBody(request: ResponsesRequest): Json {
  return { ...request.body, model: request.model };
}

/**
 * A Response object: kept whole, with its text (every `output_text` of its message items, as
 * the SDKs' `output_text`) and usage read out. A `failed` response is an upstream failure.
 */
export function readResponse(
  raw: string,
  request: ResponsesRequest,
  rateLimit: RateLimitHint | undefined,
): ResponsesOutcome {
  let response: Json;
  try {
    response = JSON.parse(raw) as Json;
  } catch {
    return retryable(502, `upstream sent invalid JSON: ${truncate(raw)}`, false, { rateLimit });
  }
  if (typeof response !== "object" || response === null || !Array.isArray(response.output)) {
    return retryable(502, `upstream sent no response output: ${truncate(raw)}`, false, { rateLimit });
  }
  if (response.status === "failed") {
    const error = response.error as { message?: string } | null | undefined;
    return retryable(502, `upstream response failed: ${truncate(error?.message ?? "no message")}`, false, {
      rateLimit,
    });
  }
  const outcome: ResponsesOutcome = {
    kind: "success",
    response,
    text: outputText(response.output),
    usage: responsesUsage(response.usage as ResponsesUsage | undefined),
    model: typeof response.model === "string" ? response.model : request.model,
  };
  if (rateLimit) outcome.rateLimit = rateLimit;
  return outcome;
}

function outputText(output: unknown[]): string {
  let text = "";
  for (const item of output as Array<{ type?: string; content?: Array<{ type?: string; text?: string }> }>) {
    if (item?.type !== "message" || !Array.isArray(item.content)) continue;
    for (const part of item.content) if (part?.type === "output_text") text += part.text ?? "";
  }
  return text;
}

function responsesUsage(usage: ResponsesUsage | undefined): TokenUsage {
  const out: TokenUsage = {
    promptTokens: usage?.input_tokens ?? 0,
    completionTokens: usage?.output_tokens ?? 0,
  };
  const cached = usage?.input_tokens_details?.cached_tokens;
  if (typeof cached === "number" && cached >= 0) out.cachedPromptTokens = cached;
  const reasoning = usage?.output_tokens_details?.reasoning_tokens;
  if (typeof reasoning === "number" && reasoning > 0) out.reasoningTokens = reasoning;
  return out;
}
