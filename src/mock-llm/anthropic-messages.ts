import type { FastifyInstance, FastifyReply } from "fastify";
import { type SimulatedTurn, simulateTurn } from "../providers/simulated-turn.js";
import { splitForStreaming } from "../providers/stream-chunks.js";
import { lastUserText } from "../providers/text.js";
import type { ModelRequest } from "../providers/types.js";
import { parseMessagesBody } from "./anthropic-input.js";
import type { Refusal } from "./limits.js";
import {
  answerDelayMs,
  delay,
  type EventStreamParts,
  injectsFault,
  type MockRouteDeps,
  retryAfterSeconds,
  writeEventStream,
} from "./route-support.js";
import { isObject, type Json, WireError } from "./wire-error.js";

function anthropicError(type: string, message: string) {
  return { type: "error", error: { type, message } };
}

type Block = Json & { type: string };

/** A finished message, as the JSON answer and the stream's events both describe it. */
type Message = { content: Block[]; usage: { input_tokens: number; output_tokens: number } } & Json;

/**
 * Anthropic's Messages API on the mock (`POST /v1/messages`, streaming too), answering with the
 * same simulated model, limits and log as its OpenAI route: the same request gives the same
 * text, tool calls (as `tool_use` blocks) and token counts through either shape. With thinking
 * on, a thinking block comes first.
 */
export function registerAnthropicMessages(app: FastifyInstance, deps: MockRouteDeps): void {
  let seq = 0;
  app.post("/v1/messages", async (request, reply) => {
    const body = (isObject(request.body) ? request.body : {}) as Json;
    deps.capture?.("/v1/messages", body);
    const model = typeof body.model === "string" ? body.model : "";
    let parsed: ModelRequest;
    try {
      parsed = parseMessagesBody(body);
    } catch (err) {
      if (!(err instanceof WireError)) throw err;
      deps.log.record(400, model, "");
      return reply.code(400).send(anthropicError("invalid_request_error", err.message));
    }
    const userText = lastUserText(parsed.messages);
    const turn = simulateTurn(parsed);
    const refused = deps.limits.admit(turn.promptTokens + turn.completionTokens);
    if (refused) {
      deps.log.record(429, model, userText);
      return sendRateLimited(reply, deps, refused);
    }
    const headers = deps.limits.anthropicHeaders();
    if (injectsFault(deps)) {
      const wait = answerDelayMs(deps);
      if (wait > 0) await delay(wait);
      deps.log.record(500, model, userText);
      return reply.code(500).send(anthropicError("api_error", "injected fault"));
    }
    deps.log.record(200, model, userText);
    const message = toMessage(
      `msg_mock${++seq}`,
      model,
      turn,
      parsed.thinking?.type === "enabled" ? userText : undefined,
    );
    if (body.stream === true) {
      await writeEventStream(reply, headers, messageStream(message), answerDelayMs(deps));
      return reply;
    }
    const wait = answerDelayMs(deps);
    if (wait > 0) await delay(wait);
    return reply.headers(headers).send(message);
  });
}

/** A tool_use input must be an object: invalid arguments (the `[invalid-args]` marker) become `{}`. */
function toolInput(args: string): Json {
  try {
    const value = JSON.parse(args);
    return isObject(value) ? value : {};
  } catch {
    return {};
  }
}

function toMessage(
  id: string,
  model: string,
  turn: SimulatedTurn,
  thinkingAbout: string | undefined,
): Message {
  const content: Block[] = [];
  if (thinkingAbout !== undefined) {
    content.push({ type: "thinking", thinking: `Thinking about: ${thinkingAbout}`, signature: `sig_${id}` });
  }
  if (turn.text !== "" || !turn.toolCalls) content.push({ type: "text", text: turn.text });
  for (const call of turn.toolCalls ?? []) {
    content.push({ type: "tool_use", id: call.id, name: call.name, input: toolInput(call.arguments) });
  }
  return {
    id,
    type: "message",
    role: "assistant",
    model,
    content,
    stop_reason: turn.toolCalls ? "tool_use" : "end_turn",
    stop_sequence: null,
    usage: { input_tokens: turn.promptTokens, output_tokens: turn.completionTokens },
  };
}

/** 429 with `retry-after`, the `anthropic-ratelimit-*` headers and Anthropic's error. */
function sendRateLimited(reply: FastifyReply, deps: MockRouteDeps, refused: Refusal) {
  const waitMs = Math.max(1, Math.ceil(refused.waitMs));
  return reply
    .code(429)
    .headers(deps.limits.anthropicHeaders())
    .header("retry-after", retryAfterSeconds(waitMs))
    .send(
      anthropicError(
        "rate_limit_error",
        `Number of ${refused.limit} has exceeded your per-minute rate limit`,
      ),
    );
}

/**
 * Anthropic's SSE stream: message_start, each content block (thinking in thinking_delta and
 * signature_delta, text in text_delta pieces over the latency, tool_use input in
 * input_json_delta pieces), message_delta with the stop reason, message_stop.
 */
function messageStream(message: Message): EventStreamParts {
  const event = (type: string, data: Json) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  const startUsage = { input_tokens: message.usage.input_tokens, output_tokens: 1 };
  const head =
    event("message_start", { message: { ...message, content: [], stop_reason: null, usage: startUsage } }) +
    event("ping", {});
  const deltas: string[] = [];
  message.content.forEach((block, index) => {
    const delta = (d: Json) => event("content_block_delta", { index, delta: d });
    const pieces: string[] = [];
    if (block.type === "text") {
      pieces.push(
        ...splitForStreaming(String(block.text)).map((text) => delta({ type: "text_delta", text })),
      );
      block = { type: "text", text: "" };
    } else if (block.type === "thinking") {
      pieces.push(delta({ type: "thinking_delta", thinking: block.thinking }));
      pieces.push(delta({ type: "signature_delta", signature: block.signature }));
      block = { type: "thinking", thinking: "", signature: "" };
    } else if (block.type === "tool_use") {
      const json = JSON.stringify(block.input);
      pieces.push(
        ...splitForStreaming(json).map((partial_json) => delta({ type: "input_json_delta", partial_json })),
      );
      block = { ...block, input: {} };
    }
    pieces[0] = event("content_block_start", { index, content_block: block }) + (pieces[0] ?? "");
    pieces[pieces.length - 1] += event("content_block_stop", { index });
    deltas.push(...pieces);
  });
  const tail =
    event("message_delta", {
      delta: { stop_reason: message.stop_reason, stop_sequence: null },
      usage: { output_tokens: message.usage.output_tokens },
    }) + event("message_stop", {});
  return { head, deltas, tail };
}
