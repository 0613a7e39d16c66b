/**
 * `agentbatch mock-llm --latency-jitter-ms`: the built CLI passes the spread to the mock, whose
 * answers then take different times around `--latency-ms` (the draw itself is unit-tested in
 * test/unit/mock-latency.test.ts); a negative spread is refused by name. Needs `npm run build`.
 */
import { afterAll, expect, it } from "vitest";
import { type CliProcess, killHard, startCli, startMockProcess } from "../helpers/processes.js";

const procs: CliProcess[] = [];
afterAll(async () => {
  for (const p of procs) await killHard(p);
});

/** How long one chat completion takes, in ms. */
async function timedCompletion(url: string, i: number): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "mock-model", messages: [{ role: "user", content: `q ${i}` }] }),
  });
  expect(res.status).toBe(200);
  await res.json();
  return performance.now() - t0;
}

it("spreads each answer's delay within ±jitter of the latency", async () => {
  // Draws fall in [10, 110) ms, 40 % of them under 50: of 30 answers ~12 are expected faster than
  // 50 ms. Without the spread none can be (a timer never fires before its 60 ms), however loaded
  // the machine; a load that delays answers only makes fewer of them fast. One after the other on
  // a warm mock and a kept-alive connection, so that neither start-up nor connecting is timed.
  const mock = await startMockProcess({ latencyMs: 60, latencyJitterMs: 50 });
  procs.push(mock.proc);
  for (let i = 0; i < 5; i++) await timedCompletion(mock.url, i);
  const times: number[] = [];
  for (let i = 0; i < 30; i++) times.push(await timedCompletion(mock.url, i));
  expect(times.filter((t) => t < 50).length).toBeGreaterThanOrEqual(3);
  expect(Math.min(...times)).toBeGreaterThanOrEqual(9);
});

it("refuses a negative jitter, naming the option", async () => {
  const proc = startCli(["mock-llm", "--port", "0", "--latency-jitter-ms", "-5"]);
  procs.push(proc);
  expect(await proc.exited).not.toBe(0);
  await proc.closed;
  expect(proc.output.join("")).toMatch(/--latency-jitter-ms/);
});
