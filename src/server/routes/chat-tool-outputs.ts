import { continuedInput, outputsProblem } from "../../agents/chat-tool-outputs.js";
import type { ApiPlugin, ApiReply, ApiRequest } from "../api-plugin.js";
import { answerTurn, chatTurnDeps } from "../chat-answer.js";
import type { AppContext } from "../context.js";
import { badRequest, conflict, notFound } from "../errors.js";
import { ChatParams, ChatToolOutputsBody } from "../schemas/chats.js";
import { assertWhitelisted } from "../whitelist.js";
import { outputTexts } from "./agent-tools.js";
import { chatOf } from "./chats.js";

const schema = {
  tags: ["Chats"],
  summary:
    "Answer the client tool calls a chat turn waits on (all of them at once); the turn continues, streamed unless stream is false",
  params: ChatParams,
  body: ChatToolOutputsBody,
};

/**
 * `POST /chats/{id}/tool-outputs`: a chat turn that ended with `response.tool_calls.required`
 * continues with the outputs. 404 for a chat not of this workspace, 409 when the chat waits on
 * nothing, 400 naming unknown or missing call ids.
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
  const outputs = outputTexts(request.body.outputs);
  const pending = await ctx.store.chatTurns.getPending(chat.id);
  if (!pending) throw conflict("This chat has no turn waiting on client tool calls");
  const problem = outputsProblem(pending, outputs);
  if (problem) throw badRequest(problem);
  const turn = pending.turn;
  const version = await ctx.store.agents.getVersion(String(turn.agent_id), Number(turn.agent_version));
  if (!version) throw notFound("Agent version of the waiting turn");
  const input = continuedInput({ chat, agent: version }, pending, outputs);
  return answerTurn(chatTurnDeps(ctx), input, request.body.stream, reply, request.log);
}
