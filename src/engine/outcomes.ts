import type { TurnResult } from "../agents/run-turn.js";
import type { EngineConfig } from "../config/index.js";
import { costOf, type PriceTable } from "../domain/pricing.js";
import { responseUsage } from "../domain/usage.js";
import type { ClaimedItem, ItemOutcome } from "../store/types.js";
import { retryDelayMs } from "./backoff.js";

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** An item's outcome before the fencing fields (owner, attempt) the completer adds. */
export type ItemResult = DistributiveOmit<ItemOutcome, "itemId" | "batchId" | "leaseOwner" | "attempt">;

export type RetryPolicy = Pick<EngineConfig, "maxAttempts" | "retryBaseMs" | "retryMaxMs">;

type Success = Extract<TurnResult, { kind: "success" }>;
type Retryable = Extract<TurnResult, { kind: "retryable" }>;
type Failed = Extract<TurnResult, { kind: "failed" }>;

/** What an item ends with when its run crashed (a bug, or a provider that threw). */
export const INTERNAL_FAILURE: ItemResult = {
  kind: "failed",
  errorCode: 500,
  errorMessage: "Internal server error during processing",
};

/** A successful turn as the item's result: seed 000's `response_usage`, cost, and the chat turn's fields. */
export function successResult(item: ClaimedItem, turn: Success, prices: PriceTable): ItemResult {
  const { promptTokens, completionTokens } = turn.usage;
  const { provider, model } = turn.upstream;
  const result: ItemResult = {
    kind: "success",
    responseContent: turn.text,
    responseUsage: responseUsage(turn.calls),
    promptTokens,
    completionTokens,
    cost: costOf(prices, provider, model, promptTokens, completionTokens),
    responseTimeMs: turn.callMs,
    workspaceId: item.workspaceId,
    agentId: item.agentId,
    message: item.message,
    chatName: item.name ?? item.message.slice(0, 64),
    externalUserId: item.externalUserId,
    historyId: item.historyId,
    finishReason: turn.finishReason,
    responseDetail: turn.detail ?? null,
    attachedFileUuids: item.attachedFileUuids.length > 0 ? item.attachedFileUuids : undefined,
  };
  // Set only when there is one (no spread of an empty object per item).
  if (turn.json !== undefined) result.responseJson = turn.json;
  return result;
}

/**
 * A failed turn as the item's result; the tokens its model calls spent (a 422 after the repair
 * step, max_steps reached) go with it, so the batch's usage totals count them.
 */
export function failedResult(turn: Failed, prices: PriceTable): ItemResult {
  const failed = { kind: "failed" as const, errorCode: turn.code, errorMessage: turn.message };
  if (!turn.spent) return failed;
  const { usage, calls, upstream } = turn.spent;
  const { promptTokens, completionTokens } = usage;
  const cost = costOf(prices, upstream.provider, upstream.model, promptTokens, completionTokens);
  return { ...failed, usage: { promptTokens, completionTokens, cost, responseUsage: responseUsage(calls) } };
}

/**
 * A retryable failure: another attempt after an exponential, jittered delay that is never
 * shorter than the upstream's Retry-After, or a final failure with its code once the item has
 * had `maxAttempts`.
 */
export function retryOrFail(
  item: ClaimedItem,
  turn: Retryable,
  policy: RetryPolicy,
  now: number,
): ItemResult {
  // Interruptions (crashes, stalls) are not upstream tries: they spend no attempt.
  if (item.attempt - item.interruptions >= policy.maxAttempts) {
    return { kind: "failed", errorCode: turn.code, errorMessage: turn.message };
  }
  const wait = retryDelayMs(item.attempt, policy.retryBaseMs, policy.retryMaxMs, turn.retryAfterMs);
  return { kind: "retry", notBefore: now + wait, errorCode: turn.code, errorMessage: turn.message };
}
