import { sampleFromSchema } from "./schema-sample.js";
import { hasMarker } from "./tool-choice.js";
import type { ChatMessage, OpenAILogprobs, OpenAITokenLogprob, ResponseFormat } from "./types.js";

/**
 * The simulated model's structured output, shared by the simulated provider and mock-llm:
 * `json_schema` answers `sampleFromSchema(schema)` with strings drawn from `text`, `json_object`
 * answers `{"echo": text}`. `[invalid-json]` in the last user message (or
 * `[invalid-json:always]` in any) makes the answer invalid JSON, so that the repair step and the
 * 422 can be tested. Undefined for plain text.
 */
export function simulatedJson(
  format: ResponseFormat | undefined,
  text: string,
  lastUserText: string,
  messages: ChatMessage[],
): string | undefined {
  if (format === undefined || format.type === "text") return undefined;
  const value =
    format.type === "json_schema" ? sampleFromSchema(format.jsonSchema.schema, { text }) : { echo: text };
  const json = JSON.stringify(value);
  return hasMarker(lastUserText, messages, "invalid-json") ? json.slice(0, -1) : json;
}

/** Words and the spaces after them: the simulated model's "tokens". */
const TOKEN = /\s*\S+\s*|\s+/g;
const encoder = new TextEncoder();

/**
 * Log probabilities in OpenAI's shape for a simulated answer: every token certain (logprob 0),
 * and `top` alternatives each less likely than the last.
 */
export function simulatedLogprobs(text: string, top = 0): OpenAILogprobs {
  const content: OpenAITokenLogprob[] = [];
  for (const match of text.matchAll(TOKEN)) {
    const token = match[0];
    const bytes = Array.from(encoder.encode(token));
    const alternatives: OpenAITokenLogprob["top_logprobs"] = [];
    for (let i = 0; i < top; i++) {
      const alt = i === 0 ? token : `${token.trimEnd()}${"~".repeat(i)}`;
      alternatives.push({ token: alt, logprob: -i * 2, bytes: Array.from(encoder.encode(alt)) });
    }
    content.push({ token, logprob: 0, bytes, top_logprobs: alternatives });
  }
  return { content, refusal: null };
}
