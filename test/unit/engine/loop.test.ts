import { expect, it } from "vitest";
import { BackgroundLoop } from "../../../src/engine/loop.js";
import { deferred, waitFor } from "./harness.js";

it("never overlaps iterations, and pokes during one ask for exactly one more", async () => {
  let active = 0;
  let maxActive = 0;
  let runs = 0;
  let gate = deferred<void>();
  const loop = new BackgroundLoop({
    iteration: async () => {
      runs++;
      active++;
      maxActive = Math.max(maxActive, active);
      await gate.promise;
      active--;
    },
    intervalMs: 60_000,
    onError: () => {},
  });
  loop.start();
  await waitFor(() => runs === 1, "the first iteration");
  for (let i = 0; i < 5; i++) loop.poke();
  const first = gate;
  gate = deferred<void>();
  first.resolve();
  await waitFor(() => runs === 2, "the iteration asked for by the pokes");
  gate.resolve();
  await loop.stop();
  expect(runs).toBe(2);
  expect(maxActive).toBe(1);
});

it("stop() waits for the running iteration and runs no other", async () => {
  const gate = deferred<void>();
  let runs = 0;
  let finished = false;
  const loop = new BackgroundLoop({
    iteration: async () => {
      runs++;
      await gate.promise;
      finished = true;
      return 0;
    },
    intervalMs: 60_000,
    onError: () => {},
  });
  loop.start();
  await waitFor(() => runs === 1, "the first iteration");
  const stopping = loop.stop().then(() => finished);
  expect(loop.active).toBe(false);
  gate.resolve();
  expect(await stopping).toBe(true);
  loop.poke();
  expect(runs).toBe(1);
});

it("reports an iteration that throws and goes on", async () => {
  const errors: unknown[] = [];
  let runs = 0;
  const loop = new BackgroundLoop({
    iteration: async () => {
      runs++;
      if (runs === 1) throw new Error("boom");
      return 60_000;
    },
    intervalMs: 1,
    onError: (err) => errors.push(err),
  });
  loop.start();
  await waitFor(() => runs === 2, "the iteration after the failure");
  await loop.stop();
  expect(errors).toHaveLength(1);
});

it("waits one interval before the first iteration when asked to", async () => {
  let runs = 0;
  const loop = new BackgroundLoop({
    iteration: async () => {
      runs++;
    },
    intervalMs: 60_000,
    runAtStart: false,
    onError: () => {},
  });
  loop.start();
  await new Promise((r) => setImmediate(r));
  expect(runs).toBe(0);
  loop.poke();
  await waitFor(() => runs === 1, "the poked iteration");
  await loop.stop();
});
