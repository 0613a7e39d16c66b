import pino from "pino";
import { describe, expect, it } from "vitest";
import { Completer } from "../../../src/engine/completer.js";
import { HeldItems } from "../../../src/engine/held-items.js";
import type { ItemResult } from "../../../src/engine/outcomes.js";
import { LocalSignals } from "../../../src/engine/signals.js";
import type { ClaimedItem, CommitReport, ItemOutcome } from "../../../src/store/types.js";
import { waitFor } from "./harness.js";

const item = (id: number) => ({ id, batchId: "b1", workspaceId: "w1", attempt: 1 }) as ClaimedItem;
const ok = { kind: "success" } as ItemResult;

/**
 * A completer over a store whose commit answers at once (as SQLite's synchronous calls do), and
 * an event log of the store's commits and of marks set one event-loop turn after each commit.
 */
function setup(options: { failFirst?: boolean; concurrency?: number; commitBatchSize?: number } = {}) {
  const held = new HeldItems();
  const events: string[] = [];
  const commits: number[][] = [];
  let fail = options.failFirst ?? false;
  const completer = new Completer({
    store: {
      items: {
        commit: async (outcomes: ItemOutcome[]): Promise<CommitReport> => {
          commits.push(outcomes.map((o) => o.itemId));
          events.push("commit");
          // Runs on the turn after this one: between two commits if they are a turn apart.
          setImmediate(() => events.push("turn"));
          if (fail) {
            fail = false;
            throw new Error("database is down");
          }
          return { applied: outcomes.length, discarded: 0, transitions: [], touchedBatchIds: ["b1"] };
        },
      } as never,
    },
    held,
    owner: "me",
    config: {
      concurrency: options.concurrency ?? 256,
      commitBatchSize: options.commitBatchSize,
      commitIntervalMs: 60_000,
    },
    signals: new LocalSignals(),
    logger: pino({ level: "silent" }),
    onSlotFreed: () => {},
    onCommitted: () => {},
  });
  /** Holds, starts and finishes items `from`..`to` (inclusive) in one synchronous run. */
  const finish = (from: number, to: number) => {
    for (let id = from; id <= to; id++) held.add(item(id));
    for (let id = from; id <= to; id++) {
      const h = held.next();
      if (!h) throw new Error("nothing buffered");
      completer.finish(h, { ...ok }); // a fresh result each: finish() sets the item's fields on it
    }
  };
  return { held, completer, events, commits, finish };
}

describe("Completer", () => {
  it("writes a burst of outcomes one write per event-loop turn, in the order they came", async () => {
    const s = setup({ commitBatchSize: 100 });
    // One held item keeps the engine busy, so only full groups are written before flush().
    s.held.add(item(5000));
    s.held.next();
    s.finish(1, 1000);
    await s.completer.flush();
    // Ten groups of 100 were waiting: each write takes up to four of them.
    expect(s.commits.map((c) => c.length)).toEqual([400, 400, 200]);
    expect(s.commits.flat()).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    // Never two commits in one turn: a turn's mark comes between every two of them.
    for (let i = 1; i < s.events.length; i++)
      expect(`${s.events[i - 1]}-${s.events[i]}`).not.toBe("commit-commit");
    expect(s.events.filter((e) => e === "commit")).toHaveLength(3);
    // Stored items are no longer held; the busy one still is.
    expect(s.held.size).toBe(1);
    expect(s.completer.buffered).toBe(0);
  });

  it("writes a group as soon as it is full, without waiting for the others", async () => {
    const s = setup({ commitBatchSize: 100 });
    s.held.add(item(5000));
    s.held.next();
    s.finish(1, 100);
    await waitFor(() => s.commits.length === 1, "the full group's write");
    expect(s.commits[0]).toHaveLength(100);
    s.finish(101, 150);
    expect(s.completer.buffered).toBe(50);
    await s.completer.flush();
    expect(s.commits.map((c) => c.length)).toEqual([100, 50]);
  });

  it("at thousands of slots, commits in larger groups than the default 200", async () => {
    // 10,000 slots and commitBatchSize unset: a group is a twenty-fifth of them (400), not 200.
    const s = setup({ concurrency: 10_000 });
    s.held.add(item(5000));
    s.held.next();
    s.finish(1, 399);
    expect(s.completer.buffered).toBe(399);
    s.finish(400, 400);
    await waitFor(() => s.commits.length === 1, "the full group's write");
    expect(s.commits[0]).toHaveLength(400);
  });

  it("commits a configured commitBatchSize as is, even at thousands of slots", async () => {
    const s = setup({ concurrency: 10_000, commitBatchSize: 50 });
    s.held.add(item(5000));
    s.held.next();
    s.finish(1, 50);
    await waitFor(() => s.commits.length === 1, "the configured group's write");
    expect(s.commits[0]).toHaveLength(50);
  });

  it("flush() resolves only once every outcome buffered before it is stored", async () => {
    const s = setup({ commitBatchSize: 100 });
    s.held.add(item(1000));
    s.held.next();
    s.finish(1, 250);
    expect(s.completer.buffered).toBe(250);
    await s.completer.flush();
    expect(s.commits.flat()).toHaveLength(250);
    expect(s.completer.counts.committed).toBe(250);
    const writes = s.commits.length;
    // Nothing buffered: resolves without a write.
    await s.completer.flush();
    expect(s.commits).toHaveLength(writes);
  });

  it("goes on with the next groups after a failed write, and leaves the failed one to the reaper", async () => {
    const s = setup({ failFirst: true, commitBatchSize: 100 });
    s.held.add(item(1000));
    s.held.next();
    s.finish(1, 100);
    await waitFor(() => s.commits.length === 1, "the first group's (failed) write");
    s.finish(101, 200);
    await s.completer.flush();
    expect(s.commits.map((c) => c.length)).toEqual([100, 100]);
    expect(s.completer.counts.committed).toBe(100);
    expect(s.held.size).toBe(1);
  });
});
