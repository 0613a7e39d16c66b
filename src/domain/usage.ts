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

/** JSON string literals of model names and call types, kept for the few names a process sees. */
const quoted = new Map<string, string>();
function quote(text: string): string {
  let q = quoted.get(text);
  if (q === undefined) {
    q = JSON.stringify(text);
    if (quoted.size < 1024) quoted.set(text, q);
  }
  return q;
}

/**
 * `JSON.stringify(usage)` for a usage `responseUsage` built (its members in its order), written
 * by hand: it is stored with every result, and V8's stringify of the nested object cost several
 * times this. Any number that is not finite goes through `JSON.stringify` (which writes `null`).
 */
export function responseUsageJson(usage: ResponseUsage): string {
  const u = usage;
  let calls = "";
  let sum = u.total_calls + u.total_tokens + u.total_prompt_tokens + u.total_completion_tokens;
  for (const c of u.tool_calls) {
    sum += c.total_tokens + c.prompt_tokens + c.completion_tokens + (c.cached_prompt_tokens ?? 0);
    const cached =
      c.cached_prompt_tokens === undefined ? "" : `,"cached_prompt_tokens":${c.cached_prompt_tokens}`;
    calls += `${calls === "" ? "" : ","}{"model":${quote(c.model)},"call_type":${quote(c.call_type)},"total_tokens":${c.total_tokens},"prompt_tokens":${c.prompt_tokens},"completion_tokens":${c.completion_tokens}${cached}}`;
  }
  const cached = u.total_cached_prompt_tokens;
  if (!Number.isFinite(sum + (cached ?? 0))) return JSON.stringify(u);
  const end = cached === undefined ? "}" : `,"total_cached_prompt_tokens":${cached}}`;
  return `{"tool_calls":[${calls}],"total_calls":${u.total_calls},"total_tokens":${u.total_tokens},"main_response":null,"total_prompt_tokens":${u.total_prompt_tokens},"total_completion_tokens":${u.total_completion_tokens}${end}`;
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
