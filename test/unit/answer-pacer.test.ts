import { describe, expect, it } from "vitest";
import { AnswerPacer } from "../../src/providers/answer-pacer.js";
import { waitFor } from "../helpers/wait.js";

/** An answer as the pacer sees it; `events` records what the pacer did with it, in order. */
function answer(name: string, events: string[], teaches = false) {
  return {
    teaches: () => teaches,
    answered: () => {
      events.push(`answered ${name}`);
      return true;
    },
    deliver: () => events.push(`deliver ${name}`),
  };
}

describe("AnswerPacer", () => {
  it("reports every arrival of a turn before it delivers any", async () => {
    const events: string[] = [];
    const pacer = new AnswerPacer<ReturnType<typeof answer>>();
    for (const n of ["a", "b", "c"]) pacer.add(answer(n, events));
    await waitFor(() => events.length === 6, { what: "three answers delivered" });
    expect(events).toEqual(["answered a", "answered b", "answered c", "deliver a", "deliver b", "deliver c"]);
  });

  it("frees nothing early in a turn that holds an answer the limiters must learn first (a 429)", async () => {
    const events: string[] = [];
    const pacer = new AnswerPacer<ReturnType<typeof answer>>();
    pacer.add(answer("ok1", events));
    pacer.add(answer("429", events, true));
    pacer.add(answer("ok2", events));
    await waitFor(() => events.length === 3, { what: "three answers delivered" });
    // The 429 first: the others' releases (on a later turn) come after the limiter learned it.
    expect(events).toEqual(["deliver 429", "deliver ok1", "deliver ok2"]);
  });
});
