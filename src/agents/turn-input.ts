import type { LoadedAttachments } from "../files/attachments.js";
import type { AgentConfig, MessageRecord } from "../store/types.js";
import type { AgentTurn } from "./prepare-turn.js";

/** Where an agent turn's context is read from, handed in by the caller (engine or chat route). */
export interface TurnSources {
  /** The messages of a chat, oldest first. */
  history(chatId: number): Promise<MessageRecord[]>;
  /** Attached files as content parts, or why one cannot be used. */
  attachments(workspaceId: string, fileIds: string[]): Promise<LoadedAttachments>;
}

export interface AgentTurnInput {
  agent: AgentConfig;
  message: string;
  workspaceId: string;
  /** The chat whose history the turn continues, if any. */
  historyId: number | null;
  attachedFileIds: string[];
}

export type LoadedTurn = { ok: true; turn: AgentTurn } | { ok: false; code: number; message: string };

/** Reads an agent turn's history and attachments; a file that cannot be used fails it with 400. */
export async function loadAgentTurn(sources: TurnSources, input: AgentTurnInput): Promise<LoadedTurn> {
  const history = input.historyId === null ? [] : await sources.history(input.historyId);
  const attachments: LoadedAttachments =
    input.attachedFileIds.length === 0
      ? { ok: true, parts: [] }
      : await sources.attachments(input.workspaceId, input.attachedFileIds);
  if (!attachments.ok) return { ok: false, code: 400, message: attachments.message };
  return {
    ok: true,
    turn: { agent: input.agent, message: input.message, history, attachments: attachments.parts },
  };
}
