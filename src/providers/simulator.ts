import type { ChatMessage, ContentPart } from "./types.js";

/** What the simulated model answers to one call. */
export interface SimulatedReply {
  text: string;
  promptTokens: number;
  completionTokens: number;
}

/** Tokens a chat format spends on each message's role and separators (OpenAI charges about 3). */
const MESSAGE_OVERHEAD_TOKENS = 3;

/**
 * About four characters per token, OpenAI's rule of thumb: rate limits and cost estimates need a
 * stable, cheap figure, not a tokenizer.
 */
export function countTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** The text a model sees in a message; images become a marker so base64 is never echoed. */
export function contentText(content: string | ContentPart[]): string {
  if (typeof content === "string") return content;
  let text = "";
  for (let i = 0; i < content.length; i++) {
    const part = content[i];
    const piece = part.type === "text" ? part.text : "[image]";
    text = i === 0 ? piece : `${text}\n${piece}`;
  }
  return text;
}

/** The text of the last user message, or "" when there is none. */
export function lastUserText(messages: ChatMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i].role === "user") return contentText(messages[i].content);
  }
  return "";
}

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

/** Streams of at most this many deltas, however long the reply: enough to look like streaming. */
const TARGET_CHUNKS = 16;
const MIN_CHUNK_CHARS = 4;

/**
 * Cuts a reply into the deltas a stream delivers, preferably after a space. Joining the chunks
 * gives back the text exactly.
 */
export function splitForStreaming(text: string): string[] {
  const length = text.length;
  if (length === 0) return [];
  const size = Math.max(MIN_CHUNK_CHARS, Math.ceil(length / TARGET_CHUNKS));
  const chunks: string[] = [];
  let start = 0;
  while (start < length) {
    let end = start + size;
    if (end >= length) {
      chunks.push(text.slice(start));
      break;
    }
    const space = text.lastIndexOf(" ", end - 1);
    if (space > start) end = space + 1;
    else if (isHighSurrogate(text.charCodeAt(end - 1))) end++;
    chunks.push(text.slice(start, end));
    start = end;
  }
  return chunks;
}

/** Cutting between the halves of a surrogate pair would put half an emoji in each delta. */
function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
