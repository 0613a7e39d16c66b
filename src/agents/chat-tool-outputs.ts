/**
 * Continuing a chat turn that waits on client tool calls: the outputs the client sends become the
 * calls' tool steps (as a batch item's do), appended to the steps the turn stored, and the turn
 * runs again from them — no stored model reply is asked for again.
 */
import type { AgentConfig, NewTurnStep, PendingChatTurn } from "../store/types.js";
import type { ChatMessageInput, PendingTurnInput } from "./chat-message.js";
import { toolStep } from "./tools/transcript.js";

export interface ChatToolOutput {
  callId: string;
  /** The text the model gets. */
  output: string;
}

/**
 * Why these outputs cannot continue the turn (unknown call ids, a call answered twice, calls left
 * unanswered: every pending call is answered in one request), or null.
 */
export function outputsProblem(pending: PendingChatTurn, outputs: ChatToolOutput[]): string | null {
  const waiting = new Set(pending.calls.map((c) => c.callId));
  const given = outputs.map((o) => o.callId);
  const unknown = given.filter((id) => !waiting.has(id));
  if (unknown.length > 0) return `outputs: unknown call_id ${unknown.join(", ")}`;
  const twice = given.filter((id, i) => given.indexOf(id) !== i);
  if (twice.length > 0) return `outputs: call_id given twice: ${[...new Set(twice)].join(", ")}`;
  const missing = [...waiting].filter((id) => !given.includes(id));
  if (missing.length > 0) {
    return `outputs: every pending call must be answered in one request; missing call_id ${missing.join(", ")}`;
  }
  return null;
}

/** The pending turn's input, its stored steps and the outputs as tool steps: the turn to run again. */
export function continuedInput(
  base: Pick<ChatMessageInput, "chat" | "agent">,
  pending: PendingChatTurn,
  outputs: ChatToolOutput[],
): ChatMessageInput {
  const turn = pending.turn as unknown as PendingTurnInput;
  const byId = new Map(outputs.map((o) => [o.callId, o.output]));
  const answered: NewTurnStep[] = pending.calls.map((c) =>
    toolStep(
      c.stepIndex,
      { callId: c.callId, providerId: c.providerId, name: c.tool, arguments: c.arguments },
      { output: byId.get(c.callId) ?? "", isError: false, durationMs: 0 },
    ),
  );
  return {
    chat: base.chat,
    agent: base.agent as AgentConfig,
    agentId: turn.agent_id,
    agentVersion: turn.agent_version,
    message: turn.message,
    attachedFileIds: turn.attached_file_ids,
    responseId: turn.response_id,
    resumeSteps: [...pending.steps, ...answered],
  };
}
