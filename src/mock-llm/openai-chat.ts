import type { FastifyInstance, FastifyReply } from "fastify";
import { type SimulatedReply, simulateReply } from "../providers/simulator.js";
import { splitForStreaming } from "../providers/stream-chunks.js";
import { lastUserText } from "../providers/text.js";
import type { ChatMessage, ContentPart } from "../providers/types.js";
import { formatDuration, type Refusal } from "./limits.js";
import {
  delay,
  injectsFault,
  type MockRouteDeps,
  retryAfterSeconds,
  writeEventStream,
} from "./route-support.js";

interface CompletionBody {
  model?: unknown;
  messages?: unknown;
  stream?: unknown;
  stream_options?: { include_usage?: unknown } | null;
}

type OpenAIMessage = { role: string; content?: unknown };

/** One completion's identity and answer, as its JSON body and its stream chunks both carry them. */
interface Completion {
  id: string;
  created: number;
  model: string;
  text: string;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

/**
 * OpenAI's chat completions on the mock (`POST /v1/chat/completions`, JSON or SSE), answered
 * by the simulator under the mock's limits, latency and injected faults.
 */
export function registerOpenAIChat(app: FastifyInstance, deps: MockRouteDeps): void {
  let seq = 0;
  app.post("/v1/chat/completions", async (request, reply) => {
    const body = (request.body ?? {}) as CompletionBody;
    const model = typeof body.model === "string" ? body.model : "";
    const invalid = validateCompletionBody(body);
    if (invalid) {
      deps.log.record(400, model, "");
      return reply.code(400).send(openAIError(invalid.message, "invalid_request_error", invalid.param));
    }
    const messages = toChatMessages(body.messages as OpenAIMessage[]);
    const userText = lastUserText(messages);
    const answer = simulateReply(messages);
    const refused = deps.limits.admit(answer.promptTokens + answer.completionTokens);
    if (refused) {
      deps.log.record(429, model, userText);
      return sendRateLimited(reply, deps, model, refused);
    }
    const headers = deps.limits.openAIHeaders();
    if (injectsFault(deps)) {
      if (deps.latencyMs > 0) await delay(deps.latencyMs);
      deps.log.record(500, model, userText);
      return reply.code(500).send({ error: { message: "injected fault", type: "server_error" } });
    }
    const completion = toCompletion(`chatcmpl-mock${++seq}`, model, answer);
    return answerCompletion(reply, deps, headers, body, completion, userText);
  });
}

async function answerCompletion(
  reply: FastifyReply,
  deps: MockRouteDeps,
  headers: Record<string, string>,
  body: CompletionBody,
  completion: Completion,
  userText: string,
): Promise<FastifyReply> {
  if (body.stream === true) {
    deps.log.record(200, completion.model, userText);
    const includeUsage = body.stream_options?.include_usage === true;
    await writeEventStream(reply, headers, completionStream(completion, includeUsage), deps.latencyMs);
    return reply;
  }
  if (deps.latencyMs > 0) await delay(deps.latencyMs);
  deps.log.record(200, completion.model, userText);
  return reply.headers(headers).send({
    id: completion.id,
    object: "chat.completion",
    created: completion.created,
    model: completion.model,
    choices: [{ index: 0, message: { role: "assistant", content: completion.text }, finish_reason: "stop" }],
    usage: completion.usage,
  });
}

function toCompletion(id: string, model: string, answer: SimulatedReply): Completion {
  return {
    id,
    created: Math.floor(Date.now() / 1000),
    model,
    text: answer.text,
    usage: {
      prompt_tokens: answer.promptTokens,
      completion_tokens: answer.completionTokens,
      total_tokens: answer.promptTokens + answer.completionTokens,
    },
  };
}

/** 429 with `retry-after`, `retry-after-ms`, the `x-ratelimit-*` headers and OpenAI's message. */
function sendRateLimited(reply: FastifyReply, deps: MockRouteDeps, model: string, refused: Refusal) {
  const waitMs = Math.max(1, Math.ceil(refused.waitMs));
  const message = `Rate limit reached for ${model} on ${refused.limit} per min. Please try again in ${formatDuration(waitMs)}.`;
  return reply
    .code(429)
    .headers(deps.limits.openAIHeaders())
    .header("retry-after", retryAfterSeconds(waitMs))
    .header("retry-after-ms", String(waitMs))
    .send(openAIError(message, refused.limit, null, "rate_limit_exceeded"));
}

/** OpenAI's SSE stream: role and content chunks over the latency, finish, usage, [DONE]. */
function completionStream(c: Completion, includeUsage: boolean) {
  const event = (choices: unknown[], extra?: Record<string, unknown>) =>
    `data: ${JSON.stringify({ id: c.id, object: "chat.completion.chunk", created: c.created, model: c.model, choices, ...extra })}\n\n`;
  const deltas = splitForStreaming(c.text).map((content, i) =>
    event([{ index: 0, delta: i === 0 ? { role: "assistant", content } : { content }, finish_reason: null }]),
  );
  let tail = event([{ index: 0, delta: {}, finish_reason: "stop" }]);
  if (includeUsage) tail += event([], { usage: c.usage });
  tail += "data: [DONE]\n\n";
  return { head: "", deltas, tail };
}

function validateCompletionBody(body: CompletionBody): { message: string; param: string } | undefined {
  if (typeof body.model !== "string" || body.model === "") {
    return { message: "you must provide a model parameter", param: "model" };
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    return { message: "'messages' must be a non-empty array", param: "messages" };
  }
  for (let i = 0; i < body.messages.length; i++) {
    const message = body.messages[i] as OpenAIMessage | null;
    if (typeof message !== "object" || message === null || typeof message.role !== "string") {
      return { message: `'messages.${i}' must be an object with a role`, param: `messages.${i}` };
    }
    const content = message.content;
    if (content !== undefined && content !== null && typeof content !== "string" && !Array.isArray(content)) {
      return {
        message: `'messages.${i}.content' must be a string or an array`,
        param: `messages.${i}.content`,
      };
    }
  }
  return undefined;
}

/** OpenAI's content parts in the simulator's terms; only their text matters to the echo. */
function toChatMessages(messages: OpenAIMessage[]): ChatMessage[] {
  const out: ChatMessage[] = new Array(messages.length);
  for (let i = 0; i < messages.length; i++) {
    const { role, content } = messages[i];
    out[i] = { role: role as ChatMessage["role"], content: toContent(content) };
  }
  return out;
}

function toContent(content: unknown): string | ContentPart[] {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.map((part: { type?: unknown; text?: unknown }): ContentPart => {
    if (part?.type === "text") return { type: "text", text: typeof part.text === "string" ? part.text : "" };
    if (part?.type === "image_url") return { type: "image", mediaType: "", dataBase64: "" };
    return { type: "text", text: `[${String(part?.type)}]` };
  });
}

export function openAIError(
  message: string,
  type: string,
  param: string | null = null,
  code: string | null = null,
): { error: { message: string; type: string; param: string | null; code: string | null } } {
  return { error: { message, type, param, code } };
}
