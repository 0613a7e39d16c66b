import type { FastifyInstance, FastifyReply } from "fastify";
import { simulatedLogprobs } from "../providers/simulated-output.js";
import { type SimulatedTurn, simulateTurn } from "../providers/simulated-turn.js";
import { splitForStreaming } from "../providers/stream-chunks.js";
import { lastUserText } from "../providers/text.js";
import type { ModelRequest } from "../providers/types.js";
import { formatDuration, type Refusal } from "./limits.js";
import { parseChatCompletionBody } from "./openai-chat-input.js";
import {
  answerDelayMs,
  delay,
  injectsFault,
  type MockRouteDeps,
  retryAfterSeconds,
  writeEventStream,
} from "./route-support.js";
import { isObject, type Json, WireError } from "./wire-error.js";

/** One completion's identity and answer, as its JSON body and its stream chunks both carry them. */
interface Completion {
  id: string;
  created: number;
  model: string;
  turn: SimulatedTurn;
  usage: {
    prompt_tokens: number;
    completion_tokens: number;
    total_tokens: number;
    prompt_tokens_details?: { cached_tokens: number };
  };
}

/**
 * OpenAI's chat completions on the mock (`POST /v1/chat/completions`, JSON or SSE), answered
 * by the simulated model (`providers/simulated-turn.ts`: echoes, tool calls, structured output,
 * logprobs) under the mock's limits, latency and injected faults.
 */
export function registerOpenAIChat(app: FastifyInstance, deps: MockRouteDeps): void {
  let seq = 0;
  app.post("/v1/chat/completions", async (request, reply) => {
    const body = (isObject(request.body) ? request.body : {}) as Json;
    deps.capture?.("/v1/chat/completions", body);
    const model = typeof body.model === "string" ? body.model : "";
    let parsed: ModelRequest;
    try {
      parsed = parseChatCompletionBody(body);
    } catch (err) {
      if (!(err instanceof WireError)) throw err;
      deps.log.record(400, model, "");
      return reply.code(400).send(openAIError(err.message, "invalid_request_error", err.param));
    }
    const userText = lastUserText(parsed.messages);
    const turn = simulateTurn(parsed);
    const refused = deps.limits.admit(turn.promptTokens + turn.completionTokens);
    if (refused) {
      deps.log.record(429, model, userText);
      return sendRateLimited(reply, deps, model, refused);
    }
    const headers = deps.limits.openAIHeaders();
    if (injectsFault(deps)) {
      const wait = answerDelayMs(deps);
      if (wait > 0) await delay(wait);
      deps.log.record(500, model, userText);
      return reply.code(500).send({ error: { message: "injected fault", type: "server_error" } });
    }
    const completion = toCompletion(`chatcmpl-mock${++seq}`, model, turn, deps.cachedPromptTokens);
    return answerCompletion(reply, deps, headers, body, completion, userText);
  });
}

async function answerCompletion(
  reply: FastifyReply,
  deps: MockRouteDeps,
  headers: Record<string, string>,
  body: Json,
  completion: Completion,
  userText: string,
): Promise<FastifyReply> {
  if (body.stream === true) {
    deps.log.record(200, completion.model, userText);
    const options = body.stream_options as { include_usage?: unknown } | null | undefined;
    const stream = completionStream(completion, options?.include_usage === true);
    await writeEventStream(reply, headers, stream, answerDelayMs(deps));
    return reply;
  }
  const wait = answerDelayMs(deps);
  if (wait > 0) await delay(wait);
  deps.log.record(200, completion.model, userText);
  const { turn } = completion;
  const message: Json = { role: "assistant", content: turn.toolCalls ? null : turn.text, refusal: null };
  if (turn.toolCalls) message.tool_calls = turn.toolCalls.map(wireToolCall);
  return reply.headers(headers).send({
    id: completion.id,
    object: "chat.completion",
    created: completion.created,
    model: completion.model,
    choices: [{ index: 0, message, logprobs: turn.logprobs ?? null, finish_reason: turn.finishReason }],
    usage: completion.usage,
  });
}

function wireToolCall(call: { id: string; name: string; arguments: string }) {
  return { id: call.id, type: "function", function: { name: call.name, arguments: call.arguments } };
}

function toCompletion(id: string, model: string, turn: SimulatedTurn, cachedTokens: number): Completion {
  const usage: Completion["usage"] = {
    prompt_tokens: turn.promptTokens,
    completion_tokens: turn.completionTokens,
    total_tokens: turn.promptTokens + turn.completionTokens,
  };
  if (cachedTokens > 0)
    usage.prompt_tokens_details = { cached_tokens: Math.min(cachedTokens, turn.promptTokens) };
  return { id, created: Math.floor(Date.now() / 1000), model, turn, usage };
}

/** 429 with `retry-after`, `retry-after-ms`, the `x-ratelimit-*` headers and OpenAI's message. */
export function sendRateLimited(reply: FastifyReply, deps: MockRouteDeps, model: string, refused: Refusal) {
  const waitMs = Math.max(1, Math.ceil(refused.waitMs));
  const message = `Rate limit reached for ${model} on ${refused.limit} per min. Please try again in ${formatDuration(waitMs)}.`;
  return reply
    .code(429)
    .headers(deps.limits.openAIHeaders())
    .header("retry-after", retryAfterSeconds(waitMs))
    .header("retry-after-ms", String(waitMs))
    .send(openAIError(message, refused.limit, null, "rate_limit_exceeded"));
}

/**
 * OpenAI's SSE stream: the text in content chunks (with their logprobs when asked), or each tool
 * call as a chunk with its id and name then its arguments in pieces; finish, usage, [DONE].
 */
function completionStream(c: Completion, includeUsage: boolean) {
  const event = (choices: unknown[], extra?: Record<string, unknown>) =>
    `data: ${JSON.stringify({ id: c.id, object: "chat.completion.chunk", created: c.created, model: c.model, choices, ...extra })}\n\n`;
  const chunk = (delta: Json, logprobs?: unknown) =>
    event([{ index: 0, delta, ...(logprobs ? { logprobs } : {}), finish_reason: null }]);
  const deltas: string[] = [];
  const { turn } = c;
  if (turn.toolCalls) {
    turn.toolCalls.forEach((call, index) => {
      const start = { index, id: call.id, type: "function", function: { name: call.name, arguments: "" } };
      deltas.push(
        chunk(
          index === 0 ? { role: "assistant", content: null, tool_calls: [start] } : { tool_calls: [start] },
        ),
      );
      for (const piece of splitForStreaming(call.arguments)) {
        deltas.push(chunk({ tool_calls: [{ index, function: { arguments: piece } }] }));
      }
    });
  } else {
    const top = turn.logprobs?.content?.[0]?.top_logprobs.length ?? 0;
    splitForStreaming(turn.text).forEach((content, i) => {
      const delta = i === 0 ? { role: "assistant", content } : { content };
      deltas.push(chunk(delta, turn.logprobs ? simulatedLogprobs(content, top) : undefined));
    });
  }
  let tail = event([{ index: 0, delta: {}, finish_reason: turn.finishReason }]);
  if (includeUsage) tail += event([], { usage: c.usage });
  tail += "data: [DONE]\n\n";
  return { head: "", deltas, tail };
}

export function openAIError(
  message: string,
  type: string,
  param: string | null = null,
  code: string | null = null,
): { error: { message: string; type: string; param: string | null; code: string | null } } {
  return { error: { message, type, param, code } };
}
