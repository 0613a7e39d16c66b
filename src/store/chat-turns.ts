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
