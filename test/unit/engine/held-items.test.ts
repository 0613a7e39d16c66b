import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HeldItems } from "../../../src/engine/held-items.js";
import type { ClaimedItem } from "../../../src/store/types.js";

const item = (id: number, workspaceId: string, attempt = 1) => ({ id, workspaceId, attempt }) as ClaimedItem;

/** What `busyByWorkspace` must equal: the unfinished held items counted one by one. */
function recount(held: HeldItems): Map<string, number> {
  const busy = new Map<string, number>();
  for (const h of held.values()) {
    if (!h.done) busy.set(h.item.workspaceId, (busy.get(h.item.workspaceId) ?? 0) + 1);
  }
  return busy;
}

describe("HeldItems", () => {
  it("keeps its per-workspace unfinished counts equal to a recount through any sequence of changes", () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant("add" as const),
        id: fc.integer({ min: 1, max: 12 }),
        ws: fc.constantFrom("a", "b", "c"),
      }),
      fc.record({ kind: fc.constant("next" as const) }),
      fc.record({ kind: fc.constant("done" as const), id: fc.integer({ min: 1, max: 12 }) }),
      fc.record({ kind: fc.constant("drop" as const), id: fc.integer({ min: 1, max: 12 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const held = new HeldItems();
        for (const o of ops) {
          if (o.kind === "add") held.add(item(o.id, o.ws));
          else if (o.kind === "next") held.next();
          else if (o.kind === "done") {
            const h = held.values().find((x) => x.item.id === o.id);
            if (h) held.markDone(h);
          } else held.drop(o.id);
          expect(held.busyByWorkspace()).toEqual(recount(held));
          expect(held.busy).toBe([...recount(held).values()].reduce((a, b) => a + b, 0));
          expect(held.running + held.buffered).toBe(held.busy);
        }
      }),
      { seed: 20261130, numRuns: 300 },
    );
  });
});
