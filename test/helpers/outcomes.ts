/** Outcomes and counter checks shared by the store's queue tests. */
import { expect } from "vitest";
import { responseUsage } from "../../src/domain/usage.js";
import type { Store } from "../../src/store/index.js";
import type { ClaimedItem, ItemOutcome } from "../../src/store/types.js";

/** A success of claimed item `c` by `owner` (3 prompt and 2 completion tokens), with `extra` over it. */
export function successOutcome(c: ClaimedItem, owner: string, extra: Partial<ItemOutcome> = {}): ItemOutcome {
  return {
    kind: "success",
    itemId: c.id,
    batchId: c.batchId,
    leaseOwner: owner,
    attempt: c.attempt,
    responseContent: `answer ${c.customId}`,
    responseUsage: responseUsage([
      { model: "echo", callType: "llm_call", promptTokens: 3, completionTokens: 2 },
    ]),
    promptTokens: 3,
    completionTokens: 2,
    cost: 0.5,
    responseTimeMs: 7,
    workspaceId: c.workspaceId,
    agentId: c.agentId,
    message: c.message,
    chatName: null,
    externalUserId: null,
    historyId: null,
    attachedFileUuids: c.attachedFileUuids.length > 0 ? c.attachedFileUuids : undefined,
    ...extra,
  } as ItemOutcome;
}

/** Every counter of the batch equals the count of its items in that status. */
export async function expectCountersExact(store: Store, batchId: string, workspaceId: string): Promise<void> {
  const b = await store.batches.get(workspaceId, batchId);
  const all = await store.items.list(batchId, { limit: 10_000, offset: 0 });
  const count = (s: string) => all.rows.filter((i) => i.status === s).length;
  expect({
    pending: b?.pending,
    processing: b?.processing,
    succeeded: b?.succeeded,
    failed: b?.failed,
  }).toEqual({
    pending: count("pending"),
    processing: count("processing"),
    succeeded: count("success"),
    failed: count("failed"),
  });
  // The reaper finds processing items only in open batches (migration 021): none is elsewhere.
  if (count("processing") > 0) expect(["in_progress", "paused", "cancelling"]).toContain(b?.status);
}
