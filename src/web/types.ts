/**
 * The wire shapes the dashboard reads (src/server/wire.ts); extensions it tolerates are optional.
 * Statuses and which of them are final come from domain/ (pure, so the bundle can take it).
 */
import type { BatchStatus, ItemStatus } from "../domain/statuses.js";

export type { BatchStatus, ItemStatus } from "../domain/statuses.js";
export { ITEM_STATUSES, isTerminalBatchStatus as isFinal } from "../domain/statuses.js";

export interface ValidationError {
  row: number;
  error: string;
}

export interface Batch {
  id: string;
  status: BatchStatus;
  agent_id: string;
  total_requests: number;
  completed_requests: number;
  failed_requests: number;
  created_at: string | null;
  completed_at: string | null;
  cancelled_at: string | null;
  name: string | null;
  metadata: Record<string, unknown> | null;
  pending_requests: number;
  processing_requests: number;
  /** Items waiting on client tool outputs (agentbatch extension). */
  awaiting_tool_calls_requests?: number;
  progress: number;
  started_at: string | null;
  paused_at: string | null;
  expires_at: string | null;
  error_message: string | null;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  total_cost?: number;
  validation_errors?: ValidationError[] | null;
  input_file_id?: string | null;
  file_id?: string | null;
}

export interface BatchResult {
  custom_id: string;
  status: ItemStatus;
  response_content: string | null;
  response_usage: Record<string, unknown> | null;
  /** The parsed answer of an agent with structured output. */
  response_json?: unknown;
  error_code: number | null;
  error_message: string | null;
  history_id: number | null;
  processed_at: string | null;
  attempts?: number;
  agent_id?: string | null;
}

export interface Agent {
  id: string;
  name: string;
  description: string | null;
  publish_state: "draft" | "published";
  published_version: number | null;
  published_at: string | null;
  model: string;
  system_prompt: string | null;
  temperature: number | null;
  max_tokens: number | null;
  settings: Record<string, unknown>;
  created_at: string | null;
  updated_at: string | null;
}
