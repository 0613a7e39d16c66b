import { executeTurn, prepareTurn } from "../agents/runner.js";
import { replyMeta } from "../domain/usage.js";
import { loadAttachments } from "../files/attachments.js";
import type { FileStorage } from "../files/storage.js";
import type { LimiterRegistry } from "../providers/rate-limiter.js";
import type { ProviderRegistry } from "../providers/registry.js";
import type { DeltaListener, ModelOutcome } from "../providers/types.js";
import type { AgentConfig, Chat, Store, StoredChatTurn } from "../store/types.js";

export interface ChatTurnDeps {
  store: Store;
  providers: ProviderRegistry;
  /** The per-upstream limits the engine uses too, so chat and batch share one budget per process. */
  limiters: LimiterRegistry;
  files: FileStorage;
  /** Longest a turn may take, waiting for a rate-limit slot included. */
  timeoutMs: number;
}

export interface ChatTurnInput {
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

export interface ChatUsage {
  promptTokens: number;
  completionTokens: number;
}

export type ChatTurnResult =
  | { kind: "success"; text: string; usage: ChatUsage; turn: StoredChatTurn }
  | { kind: "failed"; code: number; message: string };

/**
 * Runs one chat message as an agent turn, in the calling process: the same prepareTurn /
 * executeTurn path a batch item takes, under the same per-upstream limiter, streaming the text
 * to `onDelta` as the provider produces it. The finished turn is stored whether or not anyone
 * is still listening (a client that disconnects does not cancel the model call). Nothing is
 * stored for a failed turn.
 */
export async function runChatTurn(
  deps: ChatTurnDeps,
  input: ChatTurnInput,
  onDelta?: DeltaListener,
): Promise<ChatTurnResult> {
  const { store, providers, limiters } = deps;
  const history = await store.chats.listMessages(input.chat.id);
  const attachments = await loadAttachments(store, deps.files, input.chat.workspaceId, input.attachedFileIds);
  if (!attachments.ok) return { kind: "failed", code: 400, message: attachments.message };
  const prepared = prepareTurn(
    { agent: input.agent, message: input.message, history, attachments: attachments.parts },
    providers,
  );
  if (!prepared.ok) return { kind: "failed", code: prepared.code, message: prepared.message };
  const turn = prepared.turn;
  const signal = AbortSignal.timeout(deps.timeoutMs);
  const limiter = limiters.get(turn.provider);
  let permit: Awaited<ReturnType<typeof limiter.acquire>>;
  try {
    permit = await limiter.acquire(turn.estimatedTokens, signal);
  } catch {
    return { kind: "failed", code: 429, message: "The model is busy (rate limit); try again shortly" };
  }
  const startedAt = Date.now();
  let outcome: ModelOutcome;
  try {
    outcome = await executeTurn(turn, providers, signal, onDelta);
  } catch (err) {
    permit.release(null);
    throw err;
  }
  const responseTimeMs = Date.now() - startedAt;
  const used =
    outcome.kind === "success" ? outcome.usage.promptTokens + outcome.usage.completionTokens : undefined;
  permit.release(outcome, used);
  if (outcome.kind !== "success") return { kind: "failed", code: outcome.code, message: outcome.message };

  const { promptTokens, completionTokens } = outcome.usage;
  const stored = await store.chats.appendTurn(
    {
      workspaceId: input.chat.workspaceId,
      chatId: input.chat.id,
      agentId: input.agentId,
      chatName: input.chat.name,
      externalUserId: input.chat.externalUserId,
      message: input.message,
      reply: outcome.text,
      attachedFileIds: input.attachedFileIds,
      questionMeta: { response_id: input.responseId },
      replyMeta: {
        ...replyMeta(promptTokens, completionTokens, responseTimeMs),
        response_id: input.responseId,
        agent_id: input.agentId,
        agent_version: input.agentVersion,
        model: outcome.model || turn.model,
      },
    },
    Date.now(),
  );
  return { kind: "success", text: outcome.text, usage: { promptTokens, completionTokens }, turn: stored };
}
