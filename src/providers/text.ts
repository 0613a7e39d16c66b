import type { ChatMessage, ContentPart } from "./types.js";

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
