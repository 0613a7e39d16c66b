import { continuedInput, outputsProblem } from "../../agents/chat-tool-outputs.js";
import type { PendingChatTurn } from "../../store/types.js";
import type { ApiPlugin, ApiReply, ApiRequest } from "../api-plugin.js";
import { answerTurn, chatTurnDeps } from "../chat-answer.js";
import type { AppContext } from "../context.js";
import { badRequest, conflict, notFound } from "../errors.js";
import { ChatParams, ChatToolOutputsBody } from "../schemas/chats.js";
import { assertWhitelisted } from "../whitelist.js";
import { ok } from "../wire/envelope.js";
import { parsedArguments } from "../wire/steps.js";
import { outputTexts } from "./agent-tools.js";
import { chatOf } from "./chats.js";

const schema = {
  tags: ["Chats"],
  summary:
    "Answer the client tool calls a chat turn waits on (all of them at once); the turn continues, streamed unless stream is false. Or cancel: true drops the waiting turn",
  params: ChatParams,
  body: ChatToolOutputsBody,
};

/**
 * `POST /chats/{id}/tool-outputs`: a chat turn that ended with `response.tool_calls.required`
 * continues with the outputs, or, with `{"cancel": true}`, is dropped. 404 for a chat not of this
 * workspace, 409 when the chat waits on nothing, 400 naming unknown or missing call ids.
 */
export const chatToolOutputRoutes: ApiPlugin = async (app, { ctx }) => {
  app.post("/chats/:chatId/tool-outputs", { schema }, (request, reply) => submit(ctx, request, reply));
};

async function submit(ctx: AppContext, request: ApiRequest<typeof schema>, reply: ApiReply<typeof schema>) {
  const chat = await chatOf(ctx, request.workspace, request.params.chatId);
  await assertWhitelisted(
    ctx.store,
    request.workspace.id,
    chat.externalUserId,
    "external_user_id of the chat",
  );
  const { outputs: given, cancel } = request.body;
  if (cancel && given) throw badRequest("cancel: send either outputs or cancel, not both");
  if (!given && !cancel) throw badRequest("outputs is required (or cancel: true to drop the waiting turn)");
  const pending = await ctx.store.chatTurns.getPending(chat.id);
  if (!pending) throw conflict("This chat has no turn waiting on client tool calls");
  if (cancel) return cancelTurn(ctx, chat.id, pending);
  const outputs = outputTexts(given ?? []);
  const problem = outputsProblem(pending, outputs);
  if (problem) throw badRequest(problem);
  const turn = pending.turn;
  const version = await ctx.store.agents.getVersion(String(turn.agent_id), Number(turn.agent_version));
  if (!version) throw notFound("Agent version of the waiting turn");
  const input = continuedInput({ chat, agent: version }, pending, outputs);
  return answerTurn(chatTurnDeps(ctx), input, request.body.stream, reply, request.log);
}

/**
 * Drops the chat's waiting turn: nothing of it is stored (as for a turn that fails), and the chat
 * takes messages again. A continuation running at the same time then stores nothing and answers
 * 409 (the one request that clears the pending turn wins, chat-message.ts); if it won, this is a 409.
 */
async function cancelTurn(ctx: AppContext, chatId: number, pending: PendingChatTurn) {
  if (!(await ctx.store.chatTurns.clearPending(chatId))) {
    throw conflict("This chat has no turn waiting on client tool calls");
  }
  return ok({
    status: "cancelled",
    response_id: String(pending.turn.response_id),
    chat_id: chatId,
    calls: pending.calls.map((c) => ({
      call_id: c.callId,
      tool: c.tool,
      arguments: parsedArguments(c.arguments),
    })),
  });
}
