/** Client tool calls items wait on, and their outputs as API clients send them. */
import type { Page, PageQuery } from "./page.js";

export interface PendingToolCall {
  callId: string;
  customId: string;
  tool: string;
  /** JSON text as the model wrote it. */
  arguments: string;
  createdAt: number;
}

export interface ToolOutputEntry {
  callId: string;
  output: string;
}

export type ToolOutputVerdict =
  | { callId: string; accepted: true }
  | { callId: string; accepted: false; reason: string };

export interface ToolOutputsReport {
  /** One verdict per entry, in order. */
  results: ToolOutputVerdict[];
  /** Items whose every call is now answered: pending again, to run their next model call. */
  resumed: number;
}

export interface ToolCallStore {
  /** The batch's unanswered calls of items still waiting, oldest first. */
  listPending(batchId: string, page: PageQuery): Promise<Page<PendingToolCall>>;
  /**
   * Stores each output as the call's result step (unknown, answered or no-longer-waiting calls
   * are refused with a reason) and makes pending again the items whose calls are all answered.
   */
  submitOutputs(batchId: string, outputs: ToolOutputEntry[], now: number): Promise<ToolOutputsReport>;
}
