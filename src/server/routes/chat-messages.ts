import type { ChatMessageInput } from "../../agents/chat-message.js";
import { newResponseId } from "../../domain/ids.js";
import type { MessageRecord } from "../../store/types.js";
import type { ApiPlugin, ApiReply, ApiRequest } from "../api-plugin.js";
import { attachmentProblems } from "../attachments.js";
import { answerTurn, chatTurnDeps } from "../chat-answer.js";
import type { AppContext } from "../context.js";
import { badRequest, conflict, notFound } from "../errors.js";
import { publishedAgent } from "../published-agent.js";
import { ChatParams, SendMessageBody } from "../schemas/chats.js";
import { PageQuery } from "../schemas/common.js";
import { assertWhitelisted } from "../whitelist.js";
import { messageToWire } from "../wire/chats.js";
import { baseUrl, pageAnswer } from "../wire/envelope.js";
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
  const deps = chatTurnDeps(ctx);
  return answerTurn(deps, input, request.body.stream, reply, request.log);
}

/** The checks a message must pass before its turn runs: chat, whitelist, agent, attachments. */
async function turnInput(ctx: AppContext, request: ApiRequest<typeof sendSchema>): Promise<ChatMessageInput> {
  const ws = request.workspace;
  const chat = await chatOf(ctx, ws, request.params.chatId);
  const body = request.body;
  const pending = await ctx.store.chatTurns.getPending(chat.id);
  if (pending) {
    const ids = pending.calls.map((c) => c.callId).join(", ");
    throw conflict(
      `This chat waits on client tool calls (${ids}); answer them with POST /api/v1/chats/${chat.id}/tool-outputs first`,
    );
  }
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
