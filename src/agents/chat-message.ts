import { replyMeta } from "../domain/usage.js";
import { loadAttachments } from "../files/attachments.js";
import type { FileStorage } from "../files/storage.js";
import type { DeltaListener, TokenUsage } from "../providers/types.js";
import type { AgentConfig, Chat, NewTurnStep, Store, StoredChatTurn, TurnStep } from "../store/types.js";
import type { AgentTurn } from "./prepare-turn.js";
import { runTurn, type TurnDeps } from "./run-turn.js";
import type { HttpToolCaller } from "./tools/http.js";
import type { ToolEventListener } from "./tools/types.js";
import { loadAgentTurn, type TurnSources } from "./turn-input.js";
import { type AwaitedCall, runToolTurn, type ToolTurnOptions, type ToolTurnResult } from "./turn-loop.js";

export interface ChatMessageDeps extends TurnDeps {
  /** Read for the history and the attached files; written once, the finished turn (`chats.appendTurn`). */
  store: Store;
  files: FileStorage;
  /** Longest a turn may take, waiting for a rate-limit slot included. */
  timeoutMs: number;
  /** Calls http tools of agents that have them. */
  tools?: HttpToolCaller;
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
  /**
   * The steps a turn that waited on client tool calls made so far, their outputs included: the
   * turn continues from them (set by `continueChatTurn`, chat-tool-outputs.ts).
   */
  resumeSteps?: NewTurnStep[];
}

export type ChatMessageResult =
  /** `calls`: how many model calls the turn made (a tool turn makes several). */
  | { kind: "success"; text: string; usage: TokenUsage; calls: number; turn: StoredChatTurn }
  /** The turn waits on these client tool calls (stored as the chat's pending turn). */
  | { kind: "awaiting"; calls: AwaitedCall[] }
  | { kind: "failed"; code: number; message: string };

/**
 * Runs one chat message as an agent turn, in the calling process: the same `runTurn` a batch
 * item takes, under the same per-upstream limits, streaming the text to `onDelta` as the provider
 * produces it, and each tool call's start and end to `onToolEvent`. The finished turn is stored whether or not anyone is still listening (a client
 * that disconnects does not cancel the model call). Nothing is stored for a failed turn.
 */
export async function runChatMessage(
  deps: ChatMessageDeps,
  input: ChatMessageInput,
  onDelta?: DeltaListener,
  onToolEvent?: ToolEventListener,
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
  const options = { signal: AbortSignal.timeout(deps.timeoutMs), onDelta };
  const steps: TurnStep[] = (input.resumeSteps ?? []).map((s) => ({ ...s, createdAt: Date.now() }));
  const result = await chatTurn(deps, loaded.turn, input, steps, options, onToolEvent);
  if (result.kind === "awaiting") {
    if (!(await savePendingTurn(store, input, result.calls, steps))) {
      return {
        kind: "failed",
        code: 409,
        message: "This turn was cancelled or continued by another request",
      };
    }
    return { kind: "awaiting", calls: result.calls };
  }
  if (result.kind === "aborted") {
    return { kind: "failed", code: 429, message: "The model is busy (rate limit); try again shortly" };
  }
  if (result.kind !== "success") {
    // A continued turn that cannot succeed (not a busy or failing upstream, which a retry may
    // get past) is dropped, so that the chat takes messages again.
    const definitive = result.code < 500 && result.code !== 429;
    if (input.resumeSteps && definitive) await store.chatTurns.clearPending(input.chat.id);
    return { kind: "failed", code: result.code, message: result.message };
  }
  // A continued turn is stored by the one request that ends its pending state (two concurrent
  // tool-outputs requests for the same turn store one answer).
  if (input.resumeSteps && !(await store.chatTurns.clearPending(input.chat.id))) {
    return { kind: "failed", code: 409, message: "This turn was cancelled or continued by another request" };
  }
  const stored = await storeTurn(store, input, result);
  return {
    kind: "success",
    text: result.text,
    usage: result.usage,
    calls: result.calls.length,
    turn: stored,
  };
}

/** The finished turn as the chat's question and answer. */
function storeTurn(
  store: Store,
  input: ChatMessageInput,
  result: ToolTurnResult & { kind: "success" },
): Promise<StoredChatTurn> {
  const { promptTokens, completionTokens } = result.usage;
  return store.chats.appendTurn(
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
}

/** A turn waiting on client tool calls: what it needs to continue, kept as the chat's pending turn. */
async function savePendingTurn(
  store: Store,
  input: ChatMessageInput,
  calls: AwaitedCall[],
  steps: TurnStep[],
): Promise<boolean> {
  const turn: PendingTurnInput = {
    message: input.message,
    agent_id: input.agentId,
    agent_version: input.agentVersion,
    attached_file_ids: input.attachedFileIds,
    response_id: input.responseId,
  };
  return store.chatTurns.savePending(
    {
      chatId: input.chat.id,
      turn: { ...turn },
      calls: calls.map((c) => ({
        callId: c.callId,
        providerId: c.providerId,
        tool: c.name,
        arguments: c.arguments,
        stepIndex: c.stepIndex,
      })),
    },
    steps,
    Date.now(),
    { continues: input.resumeSteps !== undefined },
  );
}

/** What a pending chat turn keeps of its input (the `turn` of `store.chatTurns`). */
export interface PendingTurnInput {
  message: string;
  agent_id: string;
  agent_version: number;
  attached_file_ids: string[];
  response_id: string;
}

/**
 * One model call, or the tool loop for an agent with tools (its steps kept in `steps`, in memory:
 * a chat message is not resumed after a crash, the client sends it again; they are stored only
 * when the turn waits on client tool calls).
 */
function chatTurn(
  deps: ChatMessageDeps,
  turn: AgentTurn,
  input: ChatMessageInput,
  steps: TurnStep[],
  options: ToolTurnOptions,
  onToolEvent?: ToolEventListener,
): Promise<ToolTurnResult> {
  if (!turn.agent.tools?.length) return runTurn(deps, turn, options);
  if (!deps.tools) {
    return Promise.resolve({
      kind: "failed",
      upstream: null,
      code: 500,
      message: "this server cannot run tools",
    });
  }
  const log = {
    load: async () => steps,
    append: async (s: NewTurnStep) => {
      steps.push({ ...s, createdAt: Date.now() });
      return true;
    },
  };
  const context = { agentId: input.agentId, chatId: input.chat.id };
  return runToolTurn({ ...deps, http: deps.tools }, { turn, log, context, onToolEvent }, options);
}
