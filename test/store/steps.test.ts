/**
 * Store conformance: the durable steps of tool-using turns, written only under the item's current
 * lease, each index once. Runs against SQLite and PostgreSQL alike.
 */
import { describe, expect, it } from "vitest";
import type { Store } from "../../src/store/index.js";
import type { NewTurnStep } from "../../src/store/types.js";
import { createBatch, seedWorkspace, useTestStore } from "../helpers/store.js";

let store: Store;
useTestStore((s) => (store = s));

const step = (index: number, kind: "model" | "tool" = "model"): NewTurnStep => ({
  index,
  kind,
  payload: { text: `step ${index}`, tool_calls: [] },
  promptTokens: 5,
  completionTokens: 3,
  durationMs: 11,
});

describe("item steps", () => {
  it("appends steps under the lease, each index once, and lists them in order", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    await createBatch(store, workspaceId, agentId, 1);
    const [c] = await store.items.claim("w1", 1, 60_000, Date.now());
    const fence = { itemId: c.id, leaseOwner: "w1", attempt: c.attempt };
    expect(await store.steps.append(fence, step(1, "tool"), 10)).toBe(true);
    expect(await store.steps.append(fence, step(0), 20)).toBe(true);
    // The same index again (another run of the item got there first) is not stored.
    expect(await store.steps.append(fence, { ...step(0), payload: { text: "other" } }, 30)).toBe(false);
    const steps = await store.steps.list(c.id);
    expect(steps.map((s) => [s.index, s.kind, s.payload.text])).toEqual([
      [0, "model", "step 0"],
      [1, "tool", "step 1"],
    ]);
    expect(steps[0]).toMatchObject({ promptTokens: 5, completionTokens: 3, durationMs: 11, createdAt: 20 });
  });

  it("refuses a step from a run that no longer holds the lease", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    await createBatch(store, workspaceId, agentId, 1);
    const [c] = await store.items.claim("w1", 1, 60_000, Date.now());
    expect(await store.steps.append({ itemId: c.id, leaseOwner: "w2", attempt: c.attempt }, step(0), 1)).toBe(
      false,
    );
    expect(
      await store.steps.append({ itemId: c.id, leaseOwner: "w1", attempt: c.attempt + 1 }, step(0), 1),
    ).toBe(false);
    // Handed back: not processing any more.
    await store.items.release("w1", [{ itemId: c.id, attempt: c.attempt }]);
    expect(await store.steps.append({ itemId: c.id, leaseOwner: "w1", attempt: c.attempt }, step(0), 1)).toBe(
      false,
    );
    expect(await store.steps.list(c.id)).toEqual([]);
  });
});
