/**
 * Token usage of an agent turn in the shape of seed 000's `response_usage`: one entry per model
 * call the agent made while answering, with the totals summed. Stored with each result and
 * returned as is.
 */

export interface ModelCallUsage {
  model: string;
  /** `llm_call` for a model call. */
  callType: string;
  promptTokens: number;
  completionTokens: number;
  /** Of `promptTokens`, those the provider served from its prompt cache, when it said. */
  cachedPromptTokens?: number;
}

export interface ResponseUsage {
  tool_calls: {
    model: string;
    call_type: string;
    total_tokens: number;
    prompt_tokens: number;
    completion_tokens: number;
    /** Present when the provider reported a cached count for the call. */
    cached_prompt_tokens?: number;
  }[];
  total_calls: number;
  total_tokens: number;
  main_response: null;
  total_prompt_tokens: number;
  total_completion_tokens: number;
  /** The sum of the calls' cached prompt tokens; present when any call reported one. */
  total_cached_prompt_tokens?: number;
}

export function responseUsage(calls: ModelCallUsage[]): ResponseUsage {
  let prompt = 0;
  let completion = 0;
  let cached: number | undefined;
  const entries = calls.map((c) => {
    prompt += c.promptTokens;
    completion += c.completionTokens;
    const entry: ResponseUsage["tool_calls"][number] = {
      model: c.model,
      call_type: c.callType,
      total_tokens: c.promptTokens + c.completionTokens,
      prompt_tokens: c.promptTokens,
      completion_tokens: c.completionTokens,
    };
    if (c.cachedPromptTokens !== undefined) {
      entry.cached_prompt_tokens = c.cachedPromptTokens;
      cached = (cached ?? 0) + c.cachedPromptTokens;
    }
    return entry;
  });
  const usage: ResponseUsage = {
    tool_calls: entries,
    total_calls: calls.length,
    total_tokens: prompt + completion,
    main_response: null,
    total_prompt_tokens: prompt,
    total_completion_tokens: completion,
  };
  if (cached !== undefined) usage.total_cached_prompt_tokens = cached;
  return usage;
}

/** The cached prompt tokens a stored `response_usage` counts (0 when none was reported). */
export function cachedPromptTokensOf(usage: ResponseUsage | null | undefined): number {
  return usage?.total_cached_prompt_tokens ?? 0;
}

/**
 * The meta an answer carries in a chat, the same for a batch item and a chat message, so that
 * `GET /chats/{id}/messages` shows both alike.
 */
export function replyMeta(
  promptTokens: number,
  completionTokens: number,
  responseTimeMs: number,
): { token_usage: Record<string, number>; response_time_ms: number } {
  return {
    token_usage: {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    },
    response_time_ms: responseTimeMs,
  };
}
