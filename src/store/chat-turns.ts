/**
 * Chat turns waiting on client tool calls: at most one per chat, with the steps the turn made so
 * far (the same steps as an item's), so that the tool outputs continue it without asking the
 * model again.
 */
import type { NewTurnStep, TurnStep } from "./steps.js";

/** A client tool call the pending turn waits on, and the step its output is stored at. */
export interface PendingChatCall {
  callId: string;
  providerId: string;
  tool: string;
  /** JSON text as the model wrote it. */
  arguments: string;
  stepIndex: number;
}

export interface PendingChatTurn {
  chatId: number;
  /** What the turn needs to run again (message, agent and version, attachments, response id): opaque here. */
  turn: Record<string, unknown>;
  calls: PendingChatCall[];
  steps: TurnStep[];
  createdAt: number;
}

export interface ChatTurnStore {
  /** The chat's pending turn with its steps in index order, or null. */
  getPending(chatId: number): Promise<PendingChatTurn | null>;
  /**
   * Makes this the chat's pending turn (replacing the one it continues, if any), its steps
   * exactly `steps`. With `continues`, only while the turn it continues is still pending: false
   * (nothing saved) once that turn was cancelled or continued by another request.
   */
  savePending(
    pending: Omit<PendingChatTurn, "steps" | "createdAt">,
    steps: NewTurnStep[],
    now: number,
    options?: { continues?: boolean },
  ): Promise<boolean>;
  /** Forgets the chat's pending turn and its steps; true when there was one. */
  clearPending(chatId: number): Promise<boolean>;
}
