import { describe, expect, it } from "vitest";
import { ItemAbort } from "../../../src/engine/item-abort.js";
import type { CallSignal } from "../../../src/providers/types.js";

describe("ItemAbort (an item's stop, as an AbortSignal behaves)", () => {
  it("calls its listeners once, in the order added, with aborted already true", () => {
    const abort = new ItemAbort();
    const seen: string[] = [];
    abort.addEventListener("abort", () => seen.push(`fn ${abort.aborted}`));
    abort.addEventListener("abort", { handleEvent: (e) => seen.push(`object ${e.type}`) }, { once: true });
    expect(abort.aborted).toBe(false);
    abort.abort();
    abort.abort();
    expect(abort.aborted).toBe(true);
    expect(seen).toEqual(["fn true", "object abort"]);
  });

  it("adds a listener once, removes it, and never calls one added after the abort", () => {
    const abort = new ItemAbort();
    let a = 0;
    let b = 0;
    const la = () => a++;
    const lb = () => b++;
    abort.addEventListener("abort", la);
    abort.addEventListener("abort", la);
    abort.addEventListener("abort", lb);
    abort.addEventListener("abort", lb);
    abort.removeEventListener("abort", lb);
    abort.abort();
    abort.addEventListener("abort", lb);
    expect([a, b]).toEqual([1, 0]);

    const single = new ItemAbort();
    single.addEventListener("abort", la);
    single.removeEventListener("abort", la);
    single.abort();
    expect(a).toBe(1);
  });

  it("runs every listener when one throws, and throws its error on a later tick", async () => {
    const abort = new ItemAbort();
    const errors: unknown[] = [];
    const onError = (err: unknown) => errors.push(err);
    const listeners = process.listeners("uncaughtException");
    process.removeAllListeners("uncaughtException");
    process.on("uncaughtException", onError);
    try {
      let after = false;
      abort.addEventListener("abort", () => {
        throw new Error("listener failed");
      });
      abort.addEventListener("abort", () => {
        after = true;
      });
      abort.abort();
      expect(after).toBe(true);
      const deadline = Date.now() + 2000;
      while (errors.length === 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
      expect((errors[0] as Error).message).toBe("listener failed");
    } finally {
      process.off("uncaughtException", onError);
      for (const l of listeners) process.on("uncaughtException", l);
    }
  });

  it("makes a real AbortSignal only when asked, aborted with it (or already)", () => {
    const abort = new ItemAbort();
    const signal = abort.signal;
    expect(signal).toBeInstanceOf(AbortSignal);
    expect(abort.signal).toBe(signal);
    let fired = 0;
    signal.addEventListener("abort", () => fired++);
    abort.abort();
    expect(signal.aborted).toBe(true);
    expect(fired).toBe(1);

    const late = new ItemAbort();
    late.abort();
    expect(late.signal.aborted).toBe(true);
    // The real signal works where an AbortSignal is required.
    expect(AbortSignal.any([late.signal]).aborted).toBe(true);
  });

  it("is what the providers' calls read (an AbortSignal is one too)", () => {
    const fromController: CallSignal = new AbortController().signal;
    const item: CallSignal = new ItemAbort();
    expect(fromController.aborted).toBe(false);
    expect(item.aborted).toBe(false);
  });
});
