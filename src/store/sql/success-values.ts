/**
 * What a group commit writes of each success, whichever way its statements go (success-rows.ts on
 * SQLite, success-statement.ts on PostgreSQL): the item's result columns and the two messages'
 * metas, as text.
 */
import { replyMeta, responseUsageJson } from "../../domain/usage.js";
import type { ItemOutcome } from "../items.js";

export type SuccessOutcome = Extract<ItemOutcome, { kind: "success" }>;

/** A success written, with the id of its question message (its item's `conversation_id`). */
export interface WrittenTurn {
  o: SuccessOutcome;
  questionId: number;
}

/**
 * The item's result columns a success sets from its outcome (all TEXT). Adding a result column
 * is one entry here.
 */
export const RESULT_COLUMNS: { name: string; value: (o: SuccessOutcome) => unknown }[] = [
  { name: "response_content", value: (o) => o.responseContent },
  { name: "response_usage", value: (o) => responseUsageJson(o.responseUsage) },
  {
    name: "response_json",
    value: (o) => (o.responseJson === undefined ? null : JSON.stringify(o.responseJson)),
  },
  { name: "finish_reason", value: (o) => o.finishReason ?? null },
  {
    name: "response_detail",
    value: (o) => (o.responseDetail ? JSON.stringify(o.responseDetail) : null),
  },
];

/**
 * The question's meta and the end of the answer's (`answerMeta`) by batch: the same texts for
 * every turn of a batch, built once a group.
 */
export function batchMetas(): (batchId: string) => { question: string; answerEnd: string } {
  const metas = new Map<string, { question: string; answerEnd: string }>();
  return (batchId) => {
    let meta = metas.get(batchId);
    if (meta === undefined) {
      const id = JSON.stringify(batchId);
      meta = { question: `{"batch_id":${id}}`, answerEnd: `,"batch_id":${id}}` };
      metas.set(batchId, meta);
    }
    return meta;
  };
}

/**
 * The answer's meta: `replyMeta`'s object with the batch id after it, as `JSON.stringify` writes
 * it (`end` is `,"batch_id":…}`), without the two objects per answer.
 */
export function answerMeta(o: SuccessOutcome, end: string): string {
  const { promptTokens, completionTokens, responseTimeMs } = o;
  if (!Number.isFinite(promptTokens + completionTokens + responseTimeMs)) {
    const meta: Record<string, unknown> = replyMeta(promptTokens, completionTokens, responseTimeMs);
    return `${JSON.stringify(meta).slice(0, -1)}${end}`;
  }
  return `{"token_usage":{"prompt_tokens":${promptTokens},"completion_tokens":${completionTokens},"total_tokens":${promptTokens + completionTokens}},"response_time_ms":${responseTimeMs}${end}`;
}
