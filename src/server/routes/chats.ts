import { Type } from "@sinclair/typebox";
import type { App } from "../app.js";
import type { AppContext } from "../context.js";
import { ok, okPage, pagination } from "../envelope.js";
import { notFound } from "../errors.js";
import { PageQuery } from "../schemas.js";
import { agentToWire, iso } from "../wire.js";

const tags = ["Chats"];

export async function chatRoutes(app: App, ctx: AppContext): Promise<void> {
  app.get(
    "/chats/published-agents",
    { schema: { tags, summary: "List published agents", querystring: PageQuery } },
    async (request) => {
      const { limit, offset } = request.query;
      const page = await ctx.store.listAgents(request.workspace.id, { limit, offset }, true);
      return okPage(
        page.rows.map(agentToWire),
        pagination(request, page.total, limit, offset, ctx.config.publicUrl),
      );
    },
  );

  app.get(
    "/chats/:chatId/messages",
    {
      schema: {
        tags,
        summary: "Messages of a chat, oldest first",
        params: Type.Object({ chatId: Type.Integer({ minimum: 1 }) }),
      },
    },
    async (request) => {
      const chat = await ctx.store.getChat(request.workspace.id, request.params.chatId);
      if (!chat) throw notFound("Chat");
      const messages = await ctx.store.listMessages(chat.id);
      return ok(
        messages.map((m) => ({
          id: m.id,
          group_id: m.groupId,
          role: m.role,
          content: m.content,
          meta: m.meta,
          attached_files: [],
          created_at: iso(m.createdAt),
        })),
      );
    },
  );
}
