import type { FastifyBaseLogger, FastifyReply } from "fastify";
import { type ChatMessageDeps, type ChatMessageInput, runChatMessage } from "../agents/chat-message.js";
import type { ToolEvent } from "../agents/tools/types.js";
import type { AwaitedCall } from "../agents/turn-loop.js";
import { ChatEventStream } from "./chat-stream.js";
import type { AppContext } from "./context.js";
import { ApiError, badRequest, conflict, ErrorCodes } from "./errors.js";
import { ok } from "./wire/envelope.js";
import { parsedArguments } from "./wire/steps.js";

/**
 * The answer of a chat turn, for the message route and the tool-outputs route alike: streamed as
 * Server-Sent Events (chat-stream.ts) or one JSON answer. A turn that waits on client tool calls
 * ends its stream with a `response.tool_calls.required` frame, or answers
 * `data.status: "awaiting_tool_calls"` with the calls.
 */

/** What a chat turn runs with, from the app's context. */
export function chatTurnDeps(ctx: AppContext): ChatMessageDeps {
  return {
    store: ctx.store,
    providers: ctx.providers,
    limiters: ctx.limiters,
    tools: ctx.tools,
    metrics: ctx.metrics?.engine,
    files: ctx.files,
    timeoutMs: 2 * ctx.config.engine.requestTimeoutMs,
  };
}

export async function answerTurn(
  deps: ChatMessageDeps,
  input: ChatMessageInput,
  stream: boolean,
  reply: FastifyReply,
  log: FastifyBaseLogger,
) {
  if (!stream) {
    const result = await runChatMessage(deps, input);
    if (result.kind === "failed") throw turnError(result.code, result.message);
    if (result.kind === "awaiting") {
      return ok({
        status: "awaiting_tool_calls",
        response_id: input.responseId,
        chat_id: input.chat.id,
        calls: callsToWire(result.calls),
      });
    }
    return ok(result.text);
  }
  reply.hijack();
  await streamTurn(deps, input, new ChatEventStream(reply.raw, input.responseId, input.chat.id), log);
}

/** The client tool calls a turn waits on, as API clients see them. */
function callsToWire(calls: AwaitedCall[]) {
  return calls.map((c) => ({ call_id: c.callId, tool: c.name, arguments: parsedArguments(c.arguments) }));
}

/** Runs the turn, streaming its deltas and then its end (or its error) in the Codeer frames. */
async function streamTurn(
  deps: ChatMessageDeps,
  input: ChatMessageInput,
  stream: ChatEventStream,
  log: FastifyBaseLogger,
): Promise<void> {
  stream.send("response.created");
  try {
    const result = await runChatMessage(
      deps,
      input,
      (delta) => stream.send("response.output_text.delta", { delta }),
      (event) => sendToolEvent(stream, event),
    );
    if (result.kind === "success") {
      const { promptTokens, completionTokens } = result.usage;
      stream.send("response.output_text.completed", {
        final_text: result.text,
        usage: {
          total_tokens: promptTokens + completionTokens,
          total_prompt_tokens: promptTokens,
          total_completion_tokens: completionTokens,
          total_calls: result.calls,
        },
        // Extensions: the stored messages of this turn.
        message_id: result.turn.answer.id,
        group_id: result.turn.answer.groupId,
      });
    } else if (result.kind === "awaiting") {
      stream.send("response.tool_calls.required", { calls: callsToWire(result.calls) });
    } else {
      stream.send("response.error", { message: result.message, code: result.code });
    }
  } catch (err) {
    log.error({ err, chat_id: input.chat.id }, "chat turn failed");
    stream.send("response.error", { message: "Internal server error", code: 500 });
  }
  stream.end();
}

/** A tool call's start or end as a step frame between the text deltas. */
function sendToolEvent(stream: ChatEventStream, event: ToolEvent): void {
  if (event.kind === "started") {
    stream.send("response.tool_call.started", {
      call_id: event.callId,
      tool: event.tool,
      arguments: parsedArguments(event.arguments),
    });
  } else {
    stream.send("response.tool_call.completed", {
      call_id: event.callId,
      tool: event.tool,
      ok: event.ok,
      duration_ms: event.durationMs,
    });
  }
}

/**
 * A failed chat turn as an API error (the non-streaming answer). A 422 is an answer that still
 * fails the agent's response_format after the repair step: the same status the streamed
 * `response.error` frame and a batch item carry, with the validation errors in the message and
 * seed 001's bad-request code (the seeds have none for 422).
 */
function turnError(code: number, message: string): ApiError {
  if (code === 400) return badRequest(message);
  if (code === 422) return new ApiError(422, ErrorCodes.BAD_REQUEST, message);
  if (code === 409) return conflict(message);
  if (code === 429) return new ApiError(429, ErrorCodes.RATE_LIMITED, message, { "retry-after": "1" });
  if (code === 504) return new ApiError(504, ErrorCodes.SERVER_ERROR, `The model timed out: ${message}`);
  return new ApiError(502, ErrorCodes.SERVER_ERROR, `The model failed: ${message}`);
}
