import { replyMeta } from "../domain/usage.js";
import { loadAttachments } from "../files/attachments.js";
import type { FileStorage } from "../files/storage.js";
import type { DeltaListener, TokenUsage } from "../providers/types.js";
import type { AgentConfig, Chat, Store, StoredChatTurn } from "../store/types.js";
import { runTurn, type TurnDeps } from "./run-turn.js";
import { loadAgentTurn, type TurnSources } from "./turn-input.js";

export interface ChatMessageDeps extends TurnDeps {
  /** Read for the history and the attached files; written once, the finished turn (`chats.appendTurn`). */
  store: Store;
  files: FileStorage;
  /** Longest a turn may take, waiting for a rate-limit slot included. */
  timeoutMs: number;
}

export interface ChatMessageInput {
  chat: Chat;
  /** The agent answering (its published version) and its id. */
  agentId: string;
  agentVersion: number;
  agent: AgentConfig;
  message: string;
  attachedFileIds: string[];
  /** Ties the stored messages to the response the client saw. */
  responseId: string;
}

export type ChatMessageResult =
  | { kind: "success"; text: string; usage: TokenUsage; turn: StoredChatTurn }
  | { kind: "failed"; code: number; message: string };

/**
 * Runs one chat message as an agent turn, in the calling process: the same `runTurn` a batch
 * item takes, under the same per-upstream limits, streaming the text to `onDelta` as the provider
 * produces it. The finished turn is stored whether or not anyone is still listening (a client
 * that disconnects does not cancel the model call). Nothing is stored for a failed turn.
 */
export async function runChatMessage(
  deps: ChatMessageDeps,
  input: ChatMessageInput,
  onDelta?: DeltaListener,
): Promise<ChatMessageResult> {
  const { store, files } = deps;
  const sources: TurnSources = {
    history: (chatId) => store.chats.listMessages(chatId),
    attachments: (workspaceId, fileIds) => loadAttachments(store, files, workspaceId, fileIds),
  };
  const loaded = await loadAgentTurn(sources, {
    agent: input.agent,
    message: input.message,
    workspaceId: input.chat.workspaceId,
    historyId: input.chat.id,
    attachedFileIds: input.attachedFileIds,
  });
  if (!loaded.ok) return { kind: "failed", code: loaded.code, message: loaded.message };
  const result = await runTurn(deps, loaded.turn, { signal: AbortSignal.timeout(deps.timeoutMs), onDelta });
  if (result.kind === "aborted") {
    return { kind: "failed", code: 429, message: "The model is busy (rate limit); try again shortly" };
  }
  if (result.kind !== "success") return { kind: "failed", code: result.code, message: result.message };

  const { promptTokens, completionTokens } = result.usage;
  const stored = await store.chats.appendTurn(
    {
      workspaceId: input.chat.workspaceId,
      chatId: input.chat.id,
      agentId: input.agentId,
      chatName: input.chat.name,
      externalUserId: input.chat.externalUserId,
      message: input.message,
      reply: result.text,
      attachedFileIds: input.attachedFileIds,
      questionMeta: { response_id: input.responseId },
      replyMeta: {
        ...replyMeta(promptTokens, completionTokens, result.callMs),
        response_id: input.responseId,
        agent_id: input.agentId,
        agent_version: input.agentVersion,
        model: result.model,
      },
    },
    Date.now(),
  );
  return { kind: "success", text: result.text, usage: result.usage, turn: stored };
}
