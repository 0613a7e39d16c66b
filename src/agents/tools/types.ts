/** What the turn loop and the tool runners share. */

/** A tool call as the turn stores it: the public id (outside) and the provider's id (to the model). */
export interface PlannedCall {
  /** Unique id shown to tool receivers and API clients (`Idempotency-Key`, `call_id`). */
  callId: string;
  /** The model's own id of the call, sent back to it with the result. */
  providerId: string;
  name: string;
  /** JSON text as the model wrote it (it may be invalid). */
  arguments: string;
}

/** A tool's result as given to the model. */
export interface ToolOutput {
  output: string;
  isError: boolean;
  durationMs: number;
}

/** Who is calling, sent to http tools beside the arguments. */
export interface ToolCallContext {
  agentId: string;
  batchId?: string;
  customId?: string;
  chatId?: number | null;
  signal: AbortSignal;
}

/** A tool call the turn starts running, then its end (told to a streaming chat client). */
export type ToolEvent =
  | { kind: "started"; callId: string; tool: string; arguments: string }
  | { kind: "finished"; callId: string; tool: string; ok: boolean; durationMs: number };

export type ToolEventListener = (event: ToolEvent) => void;

/** Tool results are truncated to this many bytes before they reach the model. */
export const MAX_TOOL_OUTPUT_BYTES = 64 * 1024;

/** Cuts text to `max` UTF-8 bytes, saying so. */
export function capOutput(text: string, max = MAX_TOOL_OUTPUT_BYTES): string {
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes <= max) return text;
  const cut = Buffer.from(text, "utf8").subarray(0, max).toString("utf8");
  return `${cut}\n[truncated: the tool returned ${bytes} bytes, ${max} kept]`;
}
