import pino from "pino";
import { expect, it } from "vitest";
import { HeldItems } from "../../../src/engine/held-items.js";
import { LeaseKeeper, RENEW_PER_TURN } from "../../../src/engine/leases.js";
import { LocalSignals } from "../../../src/engine/signals.js";
import type { ClaimedItem } from "../../../src/store/types.js";
import { waitFor } from "./harness.js";

const item = (id: number) => ({ id, batchId: "b1", workspaceId: "w1", attempt: 1 }) as ClaimedItem;

it("renews at most RENEW_PER_TURN leases per event-loop turn, in id order, and drops what was lost", async () => {
  const held = new HeldItems();
  // Claimed out of id order.
  const ids = Array.from({ length: 2500 }, (_, i) => ((i * 7919) % 2500) + 1);
  for (const id of ids) held.add(item(id));
  const lostRunning = held.next();
  const lostDone = held.next();
  if (!lostRunning || !lostDone) throw new Error("nothing buffered");
  held.markDone(lostDone);
  const lost = new Set([lostRunning.item.id, lostDone.item.id]);
  const calls: number[][] = [];
  const events: string[] = [];
  const keeper = new LeaseKeeper({
    store: {
      items: {
        renewLeases: async (_owner: string, group: number[]) => {
          calls.push(group);
          events.push("renew");
          setImmediate(() => events.push("turn"));
          return group.filter((id) => lost.has(id));
        },
      } as never,
    },
    held,
    owner: "me",
    leaseMs: 150, // renews every 50 ms
    cancelAbortsInFlight: false,
    signals: new LocalSignals(),
    logger: pino({ level: "silent" }),
    onHandedBack: () => {},
  });
  keeper.start();
  await waitFor(() => calls.length >= 3, "one renewal of every held item");
  await keeper.stop();
  const first = calls.slice(0, 3);
  expect(first.map((c) => c.length)).toEqual([RENEW_PER_TURN, RENEW_PER_TURN, 500]);
  expect(first.flat()).toEqual(Array.from({ length: 2500 }, (_, i) => i + 1));
  for (let i = 1; i < events.length; i++) expect(`${events[i - 1]}-${events[i]}`).not.toBe("renew-renew");
  // The running item whose lease was lost is aborted and dropped; the one whose outcome waits
  // for its (fenced) group commit is left to the completer.
  expect(lostRunning.abort.signal.aborted).toBe(true);
  expect(held.has(lostRunning.item.id)).toBe(false);
  expect(held.has(lostDone.item.id)).toBe(true);
  expect(lostDone.abort.signal.aborted).toBe(false);
});
