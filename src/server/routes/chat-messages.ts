import type { FastifyBaseLogger } from "fastify";
import { type ChatMessageDeps, type ChatMessageInput, runChatMessage } from "../../agents/chat-message.js";
import type { ToolEvent } from "../../agents/tools/types.js";
import { newResponseId } from "../../domain/ids.js";
import type { MessageRecord } from "../../store/types.js";
import type { ApiPlugin, ApiReply, ApiRequest } from "../api-plugin.js";
import { attachmentProblems } from "../attachments.js";
import { ChatEventStream } from "../chat-stream.js";
import type { AppContext } from "../context.js";
import { ApiError, badRequest, ErrorCodes, notFound } from "../errors.js";
import { publishedAgent } from "../published-agent.js";
import { ChatParams, SendMessageBody } from "../schemas/chats.js";
import { PageQuery } from "../schemas/common.js";
import { assertWhitelisted } from "../whitelist.js";
import { messageToWire } from "../wire/chats.js";
import { baseUrl, ok, pageAnswer } from "../wire/envelope.js";
import { parsedArguments } from "../wire/steps.js";
import { chatOf } from "./chats.js";

const tags = ["Chats"];

const listSchema = {
  tags,
  summary: "Messages of a chat, oldest first, a page at a time, with their attached files and feedback",
  params: ChatParams,
  querystring: PageQuery,
};
const sendSchema = {
  tags,
  summary: "Send a message; the answer streams as Server-Sent Events unless stream is false",
  params: ChatParams,
  body: SendMessageBody,
};

/**
 * The messages of a chat: read them, or send one and get the answer, streamed as Server-Sent
 * Events (chat-stream.ts) or as one JSON answer. The turn runs in this process
 * (agents/chat-message.ts), never through a provider called from here.
 */
export const chatMessageRoutes: ApiPlugin = async (app, { ctx }) => {
  app.get("/chats/:chatId/messages", { schema: listSchema }, (request) => listMessages(ctx, request));
  app.post("/chats/:chatId/messages", { schema: sendSchema }, (request, reply) =>
    sendMessage(ctx, request, reply),
  );
};

async function listMessages(ctx: AppContext, request: ApiRequest<typeof listSchema>) {
  const chat = await chatOf(ctx, request.workspace, request.params.chatId);
  const page = await ctx.store.chats.pageMessages(chat.id, request.query);
  const ids = page.rows.map((m) => m.id);
  const [files, feedbacks] = await Promise.all([
    ctx.store.chats.listMessageFiles(ids),
    ctx.store.chats.listFeedbacks(ids),
  ]);
  const filesOf = groupBy(
    files,
    (f) => f.messageId,
    (f) => f.file,
  );
  const feedbackOf = groupBy(
    feedbacks,
    (f) => f.messageId,
    (f) => f,
  );
  const base = baseUrl(request, ctx.config.publicUrl);
  const toWire = (m: MessageRecord) =>
    messageToWire(m, filesOf.get(m.id) ?? [], feedbackOf.get(m.id) ?? [], base);
  return pageAnswer(request, page, toWire, ctx.config.publicUrl);
}

async function sendMessage(
  ctx: AppContext,
  request: ApiRequest<typeof sendSchema>,
  reply: ApiReply<typeof sendSchema>,
) {
  const input = await turnInput(ctx, request);
  const deps: ChatMessageDeps = {
    store: ctx.store,
    providers: ctx.providers,
    limiters: ctx.limiters,
    tools: ctx.tools,
    metrics: ctx.metrics?.engine,
    files: ctx.files,
    timeoutMs: 2 * ctx.config.engine.requestTimeoutMs,
  };
  if (!request.body.stream) {
    const result = await runChatMessage(deps, input);
    if (result.kind === "failed") throw turnError(result.code, result.message);
    return ok(result.text);
  }
  reply.hijack();
  await streamTurn(deps, input, new ChatEventStream(reply.raw, input.responseId, input.chat.id), request.log);
}

/** The checks a message must pass before its turn runs: chat, whitelist, agent, attachments. */
async function turnInput(ctx: AppContext, request: ApiRequest<typeof sendSchema>): Promise<ChatMessageInput> {
  const ws = request.workspace;
  const chat = await chatOf(ctx, ws, request.params.chatId);
  const body = request.body;
  await assertWhitelisted(ctx.store, ws.id, chat.externalUserId, "external_user_id of the chat");
  const agentId = body.agent_id ?? chat.agentId;
  if (!agentId) throw badRequest("agent_id is required: this chat has no agent");
  const agent = await publishedAgent(ctx.store, ws.id, agentId, "agent_id");
  const version = await ctx.store.agents.getVersion(agent.id, agent.publishedVersion as number);
  if (!version) throw notFound("Published agent version");
  const fileIds = [...new Set(body.attached_file_uuids ?? [])];
  const [problem] = (await attachmentProblems(ctx.store, ws.id, fileIds)).values();
  if (problem) throw badRequest(`attached_file_uuids: ${problem}`);
  return {
    chat,
    agentId: agent.id,
    agentVersion: version.version,
    agent: version,
    message: body.message,
    attachedFileIds: fileIds,
    responseId: newResponseId(),
  };
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

/** A failed chat turn as an API error (the non-streaming answer). */
function turnError(code: number, message: string): ApiError {
  if (code === 400) return badRequest(message);
  if (code === 429) return new ApiError(429, ErrorCodes.RATE_LIMITED, message, { "retry-after": "1" });
  if (code === 504) return new ApiError(504, ErrorCodes.SERVER_ERROR, `The model timed out: ${message}`);
  return new ApiError(502, ErrorCodes.SERVER_ERROR, `The model failed: ${message}`);
}

function groupBy<T, V>(list: T[], key: (t: T) => number, value: (t: T) => V): Map<number, V[]> {
  const out = new Map<number, V[]>();
  for (const t of list) {
    const k = key(t);
    const group = out.get(k);
    if (group) group.push(value(t));
    else out.set(k, [value(t)]);
  }
  return out;
}
