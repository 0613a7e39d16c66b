import { describe, expect, it } from "vitest";
import { Pacer, type PacerOptions } from "../../../src/engine/pacer.js";
import { waitFor } from "./harness.js";

/**
 * A pacer on a hand-driven event loop: `turn()` runs the continuations scheduled so far (what
 * setImmediate would run on the next turn), `clock` is the time the pacer sees.
 */
function harness(items: number, options: PacerOptions = {}, msPerStart = 0) {
  const state = { left: items, started: 0, clock: 0 };
  let scheduled: (() => void)[] = [];
  const pacer = new Pacer(
    () => {
      if (state.left === 0) return false;
      state.left--;
      state.started++;
      state.clock += msPerStart;
      return true;
    },
    {
      now: () => state.clock,
      nextTurn: (fn) => {
        scheduled.push(fn);
        return () => {
          scheduled = scheduled.filter((f) => f !== fn);
        };
      },
      ...options,
    },
  );
  const turn = (lengthMs = 1) => {
    state.clock += lengthMs;
    const due = scheduled;
    scheduled = [];
    for (const fn of due) fn();
  };
  return { pacer, state, turn, pending: () => scheduled.length };
}

describe("Pacer", () => {
  it("starts at most maxPerTurn in one turn and the rest on the following turns", () => {
    const h = harness(600);
    h.pacer.run();
    expect(h.state.started).toBe(256);
    expect(h.pacer.waiting).toBe(true);
    // More requests in the same turn start nothing: its budget is spent.
    h.pacer.run();
    expect(h.state.started).toBe(256);
    h.turn();
    expect(h.state.started).toBe(512);
    h.turn();
    expect(h.state.started).toBe(600);
    expect(h.pacer.waiting).toBe(false);
    // One more turn closes the last one's accounting; then nothing is left scheduled.
    h.turn();
    expect(h.pending()).toBe(0);
  });

  it("stops a turn once its time budget is spent, also while the count is lowered", () => {
    const h = harness(100, {}, 1); // each start takes 1 ms of a 4 ms budget
    h.pacer.run();
    expect(h.state.started).toBe(4);
    h.turn();
    expect(h.state.started).toBe(8);
    h.turn(20); // slow: the count halves, the time budget stays
    expect(h.state.started).toBe(12);
  });

  it("requests in one turn share its budget", () => {
    const idle = harness(0); // nothing to start: nothing is scheduled either
    idle.pacer.run();
    expect(idle.pending()).toBe(0);
    const h = harness(1000, { maxPerTurn: 10 });
    // A start at a time, as finished items free slots one by one.
    h.state.left = 0;
    for (let i = 0; i < 30; i++) {
      h.state.left++;
      h.pacer.run();
    }
    expect(h.state.started).toBe(10);
    expect(h.state.left).toBe(20);
    h.turn();
    expect(h.state.started).toBe(20);
  });

  it("halves the count while turns are slow and grows it by a quarter per short turn", () => {
    const h = harness(100_000);
    h.pacer.run();
    expect(h.pacer.perTurn).toBe(256);
    h.turn(20);
    expect(h.pacer.perTurn).toBe(128);
    h.turn(20);
    expect(h.pacer.perTurn).toBe(64);
    for (let i = 0; i < 5; i++) h.turn(20);
    expect(h.pacer.perTurn).toBe(64); // the floor: a quarter of maxPerTurn
    h.turn(2);
    expect(h.pacer.perTurn).toBe(80);
    for (let i = 0; i < 20; i++) h.turn(2);
    expect(h.pacer.perTurn).toBe(256); // never above the full budget
  });

  it("starts nothing more once stopped, and again after resume", () => {
    const h = harness(1000);
    h.pacer.run();
    expect(h.state.started).toBe(256);
    h.pacer.stop();
    expect(h.pending()).toBe(0);
    h.turn();
    h.pacer.run();
    expect(h.state.started).toBe(256);
    h.pacer.resume();
    h.pacer.run();
    expect(h.state.started).toBe(512);
  });

  it("on the real event loop, continues by itself on later turns until nothing is left", async () => {
    let started = 0;
    const pacer = new Pacer(() => {
      if (started === 1000) return false;
      started++;
      return true;
    });
    pacer.run();
    // The rest waits for later turns: the caller's synchronous run ends after one turn's share.
    expect(started).toBeLessThanOrEqual(256);
    await waitFor(() => started === 1000, "every start");
    expect(pacer.waiting).toBe(false);
  });
});
