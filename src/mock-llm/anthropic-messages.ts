import type { FastifyInstance, FastifyReply } from "fastify";
import { type SimulatedReply, simulateReply } from "../providers/simulator.js";
import { splitForStreaming } from "../providers/stream-chunks.js";
import { lastUserText } from "../providers/text.js";
import type { ChatMessage, ContentPart } from "../providers/types.js";
import type { Refusal } from "./limits.js";
import {
  delay,
  type EventStreamParts,
  injectsFault,
  type MockRouteDeps,
  retryAfterSeconds,
  writeEventStream,
} from "./route-support.js";

interface MessagesBody {
  model?: unknown;
  max_tokens?: unknown;
  system?: unknown;
  messages?: unknown;
  stream?: unknown;
}

function anthropicError(type: string, message: string) {
  return { type: "error", error: { type, message } };
}

/** A finished message, as the JSON answer and the stream's events both describe it. */
type Message = { usage: { input_tokens: number; output_tokens: number } } & Record<string, unknown>;

/**
 * Anthropic's Messages API on the mock (`POST /v1/messages`, streaming too), answering with the
 * same simulator, limits and log as its OpenAI route, so the same request gives the same text
 * and token counts through either shape.
 */
export function registerAnthropicMessages(app: FastifyInstance, deps: MockRouteDeps): void {
  let seq = 0;
  app.post("/v1/messages", async (request, reply) => {
    const body = (request.body ?? {}) as MessagesBody;
    const model = typeof body.model === "string" ? body.model : "";
    const invalid = validate(body);
    if (invalid) {
      deps.log.record(400, model, "");
      return reply.code(400).send(anthropicError("invalid_request_error", invalid));
    }
    const messages = toChatMessages(body);
    const userText = lastUserText(messages);
    const answer = simulateReply(messages);
    const refused = deps.limits.admit(answer.promptTokens + answer.completionTokens);
    if (refused) {
      deps.log.record(429, model, userText);
      return sendRateLimited(reply, deps, refused);
    }
    const headers = deps.limits.anthropicHeaders();
    if (injectsFault(deps)) {
      if (deps.latencyMs > 0) await delay(deps.latencyMs);
      deps.log.record(500, model, userText);
      return reply.code(500).send(anthropicError("api_error", "injected fault"));
    }
    deps.log.record(200, model, userText);
    const message = toMessage(`msg_mock${++seq}`, model, answer);
    if (body.stream === true) {
      await writeEventStream(reply, headers, messageStream(message, answer.text), deps.latencyMs);
      return reply;
    }
    if (deps.latencyMs > 0) await delay(deps.latencyMs);
    return reply.headers(headers).send(message);
  });
}

function toMessage(id: string, model: string, answer: SimulatedReply): Message {
  return {
    id,
    type: "message",
    role: "assistant",
    model,
    content: [{ type: "text", text: answer.text }],
    stop_reason: "end_turn",
    stop_sequence: null,
    usage: { input_tokens: answer.promptTokens, output_tokens: answer.completionTokens },
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

function validate(body: MessagesBody): string | undefined {
  if (typeof body.model !== "string" || body.model === "") return "model: Field required";
  if (!Number.isInteger(body.max_tokens) || (body.max_tokens as number) < 1)
    return "max_tokens: Field required";
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    return "messages: must be a non-empty list";
  for (let i = 0; i < body.messages.length; i++) {
    const m = body.messages[i] as { role?: unknown } | null;
    if (!m || (m.role !== "user" && m.role !== "assistant"))
      return `messages.${i}.role: must be user or assistant`;
  }
  if (body.system !== undefined && typeof body.system !== "string" && !Array.isArray(body.system)) {
    return "system: must be a string or a list of text blocks";
  }
  return undefined;
}

/** The top-level system prompt back as a system message, so the simulator counts it as the OpenAI route does. */
function toChatMessages(body: MessagesBody): ChatMessage[] {
  const out: ChatMessage[] = [];
  if (typeof body.system === "string") out.push({ role: "system", content: body.system });
  else if (Array.isArray(body.system)) {
    out.push({
      role: "system",
      content: body.system.map((b: { text?: unknown }) => String(b?.text ?? "")).join("\n"),
    });
  }
  for (const m of body.messages as { role: "user" | "assistant"; content?: unknown }[]) {
    out.push({ role: m.role, content: toContent(m.content) });
  }
  return out;
}

function toContent(content: unknown): string | ContentPart[] {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.map((b: { type?: unknown; text?: unknown }): ContentPart => {
    if (b?.type === "text") return { type: "text", text: typeof b.text === "string" ? b.text : "" };
    if (b?.type === "image") return { type: "image", mediaType: "", dataBase64: "" };
    return { type: "text", text: `[${String(b?.type)}]` };
  });
}

/** Anthropic's SSE stream: message_start, one text block in deltas over the latency, message_delta, message_stop. */
function messageStream(message: Message, text: string): EventStreamParts {
  const event = (type: string, data: Record<string, unknown>) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  const startUsage = { input_tokens: message.usage.input_tokens, output_tokens: 1 };
  const head =
    event("message_start", { message: { ...message, content: [], stop_reason: null, usage: startUsage } }) +
    event("content_block_start", { index: 0, content_block: { type: "text", text: "" } }) +
    event("ping", {});
  const deltas = splitForStreaming(text).map((t) =>
    event("content_block_delta", { index: 0, delta: { type: "text_delta", text: t } }),
  );
  const tail =
    event("content_block_stop", { index: 0 }) +
    event("message_delta", {
      delta: { stop_reason: "end_turn", stop_sequence: null },
      usage: { output_tokens: message.usage.output_tokens },
    }) +
    event("message_stop", {});
  return { head, deltas, tail };
}
