import { runChatMessage as runChatTurn } from "../../agents/chat-message.js";
import type { Agent, Chat, Workspace } from "../../store/types.js";
import type { App } from "../app.js";
import { attachmentProblems } from "../attachments.js";
import {
  ChatParams,
  CreateChatBody,
  FeedbackBody,
  ListChatsQuery,
  MessageParams,
  RenameChatBody,
  SendMessageBody,
} from "../chat-schemas.js";
import { ChatEventStream } from "../chat-stream.js";
import { chatToWire, feedbackToWire, messageToWire } from "../chat-wire.js";
import type { AppContext } from "../context.js";
import { baseUrl, ok, okPage, pagination } from "../envelope.js";
import { ApiError, badRequest, ErrorCodes, notFound } from "../errors.js";
import { PageQuery } from "../schemas.js";
import { assertWhitelisted } from "../whitelist.js";
import { agentToWire } from "../wire.js";
import { uploadRoutes } from "./chat-files.js";

const tags = ["Chats"];

/** A published agent of the workspace, or a 400 naming `field`. */
async function publishedAgent(
  ctx: AppContext,
  ws: Workspace,
  agentId: string,
  field: string,
): Promise<Agent> {
  const agent = await ctx.store.agents.get(ws.id, agentId);
  if (!agent) throw badRequest(`${field}: agent ${agentId} not found in this workspace`);
  if (agent.publishedVersion === null) {
    throw badRequest(
      `${field}: agent ${agentId} has no published version; publish it first (POST /api/v1/agents/${agentId}/publish)`,
    );
  }
  return agent;
}

async function chatOf(ctx: AppContext, ws: Workspace, chatId: number): Promise<Chat> {
  const chat = await ctx.store.chats.get(ws.id, chatId);
  if (!chat) throw notFound("Chat");
  return chat;
}

/** A failed chat turn as an API error (the non-streaming answer). */
function turnError(code: number, message: string): ApiError {
  if (code === 400) return badRequest(message);
  if (code === 429) return new ApiError(429, ErrorCodes.RATE_LIMITED, message, { "retry-after": "1" });
  if (code === 504) return new ApiError(504, ErrorCodes.SERVER_ERROR, `The model timed out: ${message}`);
  return new ApiError(502, ErrorCodes.SERVER_ERROR, `The model failed: ${message}`);
}

export async function chatRoutes(app: App, ctx: AppContext): Promise<void> {
  app.get(
    "/chats/published-agents",
    { schema: { tags, summary: "List published agents", querystring: PageQuery } },
    async (request) => {
      const { limit, offset } = request.query;
      const page = await ctx.store.agents.list(request.workspace.id, { limit, offset }, true);
      return okPage(
        page.rows.map(agentToWire),
        pagination(request, page.total, limit, offset, ctx.config.publicUrl),
      );
    },
  );

  app.post(
    "/chats",
    { schema: { tags, summary: "Create a chat", body: CreateChatBody } },
    async (request, reply) => {
      const ws = request.workspace;
      const { name, agent_id, external_user_id } = request.body;
      const agent = await publishedAgent(ctx, ws, agent_id, "agent_id");
      await assertWhitelisted(ctx.store, ws.id, external_user_id, "external_user_id");
      const chat = await ctx.store.chats.create(
        {
          workspaceId: ws.id,
          agentId: agent.id,
          name: name ?? null,
          externalUserId: external_user_id ?? null,
        },
        Date.now(),
      );
      return reply.code(201).send(ok(chatToWire(chat)));
    },
  );

  app.get(
    "/chats",
    { schema: { tags, summary: "List chats", querystring: ListChatsQuery } },
    async (request) => {
      const { limit, offset, order_by, agent_id, external_user_id } = request.query;
      const page = await ctx.store.chats.list(request.workspace.id, {
        limit,
        offset,
        orderBy: order_by,
        agentId: agent_id,
        externalUserId: external_user_id,
      });
      return okPage(
        page.rows.map(chatToWire),
        pagination(request, page.total, limit, offset, ctx.config.publicUrl),
      );
    },
  );

  app.get(
    "/chats/:chatId",
    { schema: { tags, summary: "Get a chat", params: ChatParams } },
    async (request) => ok(chatToWire(await chatOf(ctx, request.workspace, request.params.chatId))),
  );

  app.put(
    "/chats/:chatId",
    { schema: { tags, summary: "Rename a chat", params: ChatParams, body: RenameChatBody } },
    async (request) => {
      const chat = await ctx.store.chats.rename(
        request.workspace.id,
        request.params.chatId,
        request.body.name,
        Date.now(),
      );
      if (!chat) throw notFound("Chat");
      return ok(chatToWire(chat));
    },
  );

  app.get(
    "/chats/:chatId/messages",
    {
      schema: {
        tags,
        summary: "Messages of a chat, oldest first, with their attached files and feedback",
        params: ChatParams,
      },
    },
    async (request) => {
      const chat = await chatOf(ctx, request.workspace, request.params.chatId);
      const [messages, files, feedbacks] = await Promise.all([
        ctx.store.chats.listMessages(chat.id),
        ctx.store.chats.listMessageFiles(chat.id),
        ctx.store.chats.listFeedbacks(chat.id),
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
      return ok(
        messages.map((m) => messageToWire(m, filesOf.get(m.id) ?? [], feedbackOf.get(m.id) ?? [], base)),
      );
    },
  );

  app.post(
    "/chats/:chatId/messages",
    {
      schema: {
        tags,
        summary: "Send a message; the answer streams as Server-Sent Events unless stream is false",
        params: ChatParams,
        body: SendMessageBody,
      },
    },
    async (request, reply) => {
      const ws = request.workspace;
      const chat = await chatOf(ctx, ws, request.params.chatId);
      const body = request.body;
      await assertWhitelisted(ctx.store, ws.id, chat.externalUserId, "external_user_id of the chat");
      const agentId = body.agent_id ?? chat.agentId;
      if (!agentId) throw badRequest("agent_id is required: this chat has no agent");
      const agent = await publishedAgent(ctx, ws, agentId, "agent_id");
      const version = await ctx.store.agents.getVersion(agent.id, agent.publishedVersion as number);
      if (!version) throw notFound("Published agent version");
      const fileIds = [...new Set(body.attached_file_uuids ?? [])];
      const problems = await attachmentProblems(ctx.store, ws.id, fileIds);
      const [problem] = problems.values();
      if (problem) throw badRequest(`attached_file_uuids: ${problem}`);

      const responseId = `resp_${crypto.randomUUID().replace(/-/g, "")}`;
      const deps = {
        store: ctx.store,
        providers: ctx.providers,
        limiters: ctx.limiters,
        metrics: ctx.metrics?.engine,
        files: ctx.files,
        timeoutMs: 2 * ctx.config.engine.requestTimeoutMs,
      };
      const input = {
        chat,
        agentId: agent.id,
        agentVersion: version.version,
        agent: version,
        message: body.message,
        attachedFileIds: fileIds,
        responseId,
      };

      if (!body.stream) {
        const result = await runChatTurn(deps, input);
        if (result.kind === "failed") throw turnError(result.code, result.message);
        return ok(result.text);
      }

      reply.hijack();
      const stream = new ChatEventStream(reply.raw, responseId, chat.id);
      stream.send("response.created");
      try {
        const result = await runChatTurn(deps, input, (delta) =>
          stream.send("response.output_text.delta", { delta }),
        );
        if (result.kind === "success") {
          const { promptTokens, completionTokens } = result.usage;
          stream.send("response.output_text.completed", {
            final_text: result.text,
            usage: {
              total_tokens: promptTokens + completionTokens,
              total_prompt_tokens: promptTokens,
              total_completion_tokens: completionTokens,
              total_calls: 1,
            },
            // Extensions: the stored messages of this turn.
            message_id: result.turn.answer.id,
            group_id: result.turn.answer.groupId,
          });
        } else {
          stream.send("response.error", { message: result.message, code: result.code });
        }
      } catch (err) {
        request.log.error({ err, chat_id: chat.id }, "chat turn failed");
        stream.send("response.error", { message: "Internal server error", code: 500 });
      }
      stream.end();
    },
  );

  app.post(
    "/chats/:chatId/messages/:messageId/feedbacks",
    {
      schema: { tags, summary: "Give feedback on an answer", params: MessageParams, body: FeedbackBody },
    },
    async (request, reply) => {
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
    },
  );

  await uploadRoutes(app, ctx);
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
