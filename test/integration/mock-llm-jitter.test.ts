/**
 * `mock-llm --latency-jitter-ms`: every route waits its own draw (in process, the draw fixed by
 * a stubbed Math.random and the timers the mock sets recorded: no clock read); the built CLI
 * passes the spread to the mock, whose answers then take different times around
 * `--latency-ms`; a negative spread, or one wider than the latency, is refused by name. The
 * draw itself is unit-tested in test/unit/mock-latency.test.ts. No store: the sqlite project
 * only (vitest.config.ts). Needs `npm run build`.
 */
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { startMockLlm } from "../../src/mock-llm/server.js";
import { type CliProcess, killHard, startCli, startMockProcess } from "../helpers/processes.js";

const procs: CliProcess[] = [];
afterAll(async () => {
  for (const p of procs) await killHard(p);
});
afterEach(() => {
  vi.restoreAllMocks();
});

async function post(url: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  await res.text();
}

/** How long one chat completion takes, in ms. */
async function timedCompletion(url: string, i: number): Promise<number> {
  const t0 = performance.now();
  await post(url, "/v1/chat/completions", {
    model: "mock-model",
    messages: [{ role: "user", content: `q ${i}` }],
  });
  return performance.now() - t0;
}

describe("every route waits its own draw", () => {
  const user = [{ role: "user", content: "hello there" }];
  const anthropic = { "x-api-key": "k", "anthropic-version": "2023-06-01" };
  const routes: [string, string, unknown, Record<string, string>?][] = [
    ["chat", "/chat/completions", { model: "mock-model", messages: user }],
    ["chat, streamed", "/chat/completions", { model: "mock-model", messages: user, stream: true }],
    ["messages", "/messages", { model: "mock-model", max_tokens: 50, messages: user }, anthropic],
    [
      "messages, streamed",
      "/messages",
      { model: "mock-model", max_tokens: 50, messages: user, stream: true },
      anthropic,
    ],
    ["embeddings", "/embeddings", { model: "text-embedding-3-small", input: "hello" }],
    ["responses", "/responses", { model: "mock-model", input: "hello" }],
  ];
  it.each(routes)("%s", async (_name, path, body, headers) => {
    const mock = await startMockLlm({ latencyMs: 60, latencyJitterMs: 50 });
    try {
      // Every draw at the bottom of the range: 60 - 50 = 10 ms, where a fixed latency waits 60.
      vi.spyOn(Math, "random").mockReturnValue(0);
      const delays: number[] = [];
      const realSetTimeout = globalThis.setTimeout;
      vi.spyOn(globalThis, "setTimeout").mockImplementation(((
        fn: () => void,
        ms?: number,
        ...args: unknown[]
      ) => {
        if (typeof ms === "number" && ms > 0 && ms <= 60) delays.push(ms);
        return realSetTimeout(fn, ms, ...args);
      }) as typeof setTimeout);
      await post(mock.url, path, body, headers);
      // A whole answer waits one timer; a stream spreads its deltas over the same draw.
      expect(delays.length).toBeGreaterThan(0);
      expect(delays.every((ms) => ms <= 10)).toBe(true);
      expect(delays.reduce((a, b) => a + b, 0)).toBeCloseTo(10, 6);
    } finally {
      vi.restoreAllMocks();
      await mock.close();
    }
  });
});

it("the built CLI spreads each answer's delay within ±jitter of the latency", async () => {
  // Draws fall in [10, 110) ms: of 60 answers ~27 are expected under 55 ms and ~24 at 70 or more.
  // Without the spread none can be under 55 (a timer never fires before its 60 ms), however
  // loaded the machine; a load only delays answers, so it cannot fake the slow ones either way.
  // One after the other on a warm mock and a kept-alive connection: neither start-up nor
  // connecting is timed.
  const mock = await startMockProcess({ latencyMs: 60, latencyJitterMs: 50 });
  procs.push(mock.proc);
  for (let i = 0; i < 5; i++) await timedCompletion(mock.url, i);
  const times: number[] = [];
  for (let i = 0; i < 60; i++) times.push(await timedCompletion(mock.url, i));
  expect(times.filter((t) => t < 55).length).toBeGreaterThanOrEqual(3);
  expect(times.filter((t) => t >= 70).length).toBeGreaterThanOrEqual(3);
  expect(Math.min(...times)).toBeGreaterThanOrEqual(9);
});

it("refuses a negative spread, and one wider than the latency, naming the options", async () => {
  const negative = startCli(["mock-llm", "--port", "0", "--latency-jitter-ms", "-5"]);
  const wider = startCli(["mock-llm", "--port", "0", "--latency-ms", "10", "--latency-jitter-ms", "30"]);
  procs.push(negative, wider);
  expect(await negative.exited).not.toBe(0);
  expect(await wider.exited).not.toBe(0);
  await Promise.all([negative.closed, wider.closed]);
  expect(negative.output.join("")).toMatch(
    /--latency-jitter-ms <ms>' argument '-5' is invalid\. expected a whole number/,
  );
  expect(wider.output.join("")).toMatch(/--latency-jitter-ms \(30\) must not exceed --latency-ms \(10\)/);
});
