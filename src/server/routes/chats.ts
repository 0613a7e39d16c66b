import type { Chat, Workspace } from "../../store/types.js";
import type { ApiPlugin, ApiReply, ApiRequest } from "../api-plugin.js";
import type { AppContext } from "../context.js";
import { badRequest, notFound } from "../errors.js";
import { publishedAgent } from "../published-agent.js";
import {
  ChatParams,
  CreateChatBody,
  FeedbackBody,
  ListChatsQuery,
  MessageParams,
  RenameChatBody,
} from "../schemas/chats.js";
import { PageQuery } from "../schemas/common.js";
import { assertWhitelisted } from "../whitelist.js";
import { agentToWire } from "../wire/agents.js";
import { chatToWire, feedbackToWire } from "../wire/chats.js";
import { ok, pageAnswer } from "../wire/envelope.js";

const tags = ["Chats"];

const publishedAgentsSchema = { tags, summary: "List published agents", querystring: PageQuery };
const createSchema = { tags, summary: "Create a chat", body: CreateChatBody };
const listSchema = { tags, summary: "List chats", querystring: ListChatsQuery };
const getSchema = { tags, summary: "Get a chat", params: ChatParams };
const renameSchema = { tags, summary: "Rename a chat", params: ChatParams, body: RenameChatBody };
const feedbackSchema = {
  tags,
  summary: "Give feedback on an answer",
  params: MessageParams,
  body: FeedbackBody,
};

/**
 * The Chat API's chats (seed 001): published agents, create, list, get, rename and feedback on
 * answers. Messages are in chat-messages.ts, uploads in chat-files.ts.
 */
export const chatRoutes: ApiPlugin = async (app, { ctx }) => {
  app.get("/chats/published-agents", { schema: publishedAgentsSchema }, (request) =>
    listPublishedAgents(ctx, request),
  );
  app.post("/chats", { schema: createSchema }, (request, reply) => createChat(ctx, request, reply));
  app.get("/chats", { schema: listSchema }, (request) => listChats(ctx, request));
  app.get("/chats/:chatId", { schema: getSchema }, async (request) =>
    ok(chatToWire(await chatOf(ctx, request.workspace, request.params.chatId))),
  );
  app.put("/chats/:chatId", { schema: renameSchema }, (request) => renameChat(ctx, request));
  app.post("/chats/:chatId/messages/:messageId/feedbacks", { schema: feedbackSchema }, (request, reply) =>
    giveFeedback(ctx, request, reply),
  );
};

export async function chatOf(ctx: AppContext, ws: Workspace, chatId: number): Promise<Chat> {
  const chat = await ctx.store.chats.get(ws.id, chatId);
  if (!chat) throw notFound("Chat");
  return chat;
}

async function listPublishedAgents(ctx: AppContext, request: ApiRequest<typeof publishedAgentsSchema>) {
  const { limit, offset } = request.query;
  const page = await ctx.store.agents.list(request.workspace.id, { limit, offset }, true);
  return pageAnswer(request, page, agentToWire, ctx.config.publicUrl);
}

async function createChat(
  ctx: AppContext,
  request: ApiRequest<typeof createSchema>,
  reply: ApiReply<typeof createSchema>,
) {
  const ws = request.workspace;
  const { name, agent_id, external_user_id } = request.body;
  const agent = await publishedAgent(ctx.store, ws.id, agent_id, "agent_id");
  await assertWhitelisted(ctx.store, ws.id, external_user_id, "external_user_id");
  const chat = await ctx.store.chats.create(
    { workspaceId: ws.id, agentId: agent.id, name: name ?? null, externalUserId: external_user_id ?? null },
    Date.now(),
  );
  return reply.code(201).send(ok(chatToWire(chat)));
}

async function listChats(ctx: AppContext, request: ApiRequest<typeof listSchema>) {
  const { limit, offset, order_by, agent_id, external_user_id } = request.query;
  const page = await ctx.store.chats.list(request.workspace.id, {
    limit,
    offset,
    orderBy: order_by,
    agentId: agent_id,
    externalUserId: external_user_id,
  });
  return pageAnswer(request, page, chatToWire, ctx.config.publicUrl);
}

async function renameChat(ctx: AppContext, request: ApiRequest<typeof renameSchema>) {
  const chat = await ctx.store.chats.rename(
    request.workspace.id,
    request.params.chatId,
    request.body.name,
    Date.now(),
  );
  if (!chat) throw notFound("Chat");
  return ok(chatToWire(chat));
}

async function giveFeedback(
  ctx: AppContext,
  request: ApiRequest<typeof feedbackSchema>,
  reply: ApiReply<typeof feedbackSchema>,
) {
  const chat = await chatOf(ctx, request.workspace, request.params.chatId);
  const message = await ctx.store.chats.getMessage(chat.id, request.params.messageId);
  if (!message) throw notFound("Message");
  if (message.role !== "assistant") {
    throw badRequest(
      `message_id: message ${message.id} is a ${message.role} message; feedback is on answers`,
    );
  }
  const feedback = await ctx.store.chats.addFeedback(
    {
      chatId: chat.id,
      messageId: message.id,
      rating: request.body.rating,
      comment: request.body.comment ?? null,
      externalUserId: request.body.external_user_id ?? chat.externalUserId,
    },
    Date.now(),
  );
  return reply.code(201).send(ok(feedbackToWire(feedback)));
}
