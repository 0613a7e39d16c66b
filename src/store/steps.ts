/**
 * The durable steps of a tool-using agent turn: each model reply and each tool result, stored as
 * it completes, so that a retried or resumed item continues where it was (a stored model reply
 * is never asked for again, a stored tool result never fetched again).
 */

export type StepKind = "model" | "tool";

export interface NewTurnStep {
  /** The step's place in the turn: a model reply at k, its tool calls' results at k+1.. in call order. */
  index: number;
  kind: StepKind;
  /** What the step produced (a model reply with its tool calls, or one tool result). */
  payload: Record<string, unknown>;
  promptTokens: number;
  completionTokens: number;
  durationMs: number;
}

export interface TurnStep extends NewTurnStep {
  createdAt: number;
}

/** The claim of an item a step is written under: only the run holding its lease may write. */
export interface StepFence {
  itemId: number;
  leaseOwner: string;
  attempt: number;
}

export interface StepStore {
  /**
   * Stores a step of an item this owner holds; false when it was not stored (the lease is
   * no longer this claim's, or another run already stored that index).
   */
  append(fence: StepFence, step: NewTurnStep, now: number): Promise<boolean>;
  /** The item's stored steps in index order. */
  list(itemId: number): Promise<TurnStep[]>;
}
