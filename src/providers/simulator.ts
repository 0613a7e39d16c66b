import { contentText, countTokens } from "./text.js";
import type { ChatMessage } from "./types.js";

/** What the simulated model answers to one call. */
export interface SimulatedReply {
  text: string;
  promptTokens: number;
  completionTokens: number;
}

/** Tokens a chat format spends on each message's role and separators (OpenAI charges about 3). */
const MESSAGE_OVERHEAD_TOKENS = 3;

/**
 * A deterministic answer: the last user message verbatim, plus how many non-system messages came
 * before it, so tests can see that attached files and chat history reached the model.
 * Format: `Echo: <text>` or `Echo: <text> (context: N earlier message[s])`.
 */
export function simulateReply(messages: ChatMessage[]): SimulatedReply {
  let promptTokens = 0;
  let userText: string | undefined;
  let earlier = 0;
  let turnsSeen = 0;
  for (const message of messages) {
    const text = contentText(message.content);
    promptTokens += countTokens(text) + MESSAGE_OVERHEAD_TOKENS;
    if (message.role === "system") continue;
    if (message.role === "user") {
      userText = text;
      earlier = turnsSeen;
    }
    turnsSeen++;
  }
  let text = userText === undefined ? "Echo: (no user message)" : `Echo: ${userText}`;
  if (earlier > 0) text += ` (context: ${earlier} earlier ${earlier === 1 ? "message" : "messages"})`;
  return { text, promptTokens, completionTokens: countTokens(text) };
}
