#!/usr/bin/env node
/**
 * What CPU spent per answer costs a latency-bound run (issue 17.1/17.2 at 50 ms), and whether
 * *when* it runs matters: a bare undici loop (as `throughput.mjs`'s baseline: CONCURRENCY calls
 * in flight to the mock LLM at LATENCY ms, keep-alive connections, no storage) that spends
 * `BENCH_WORK_US` µs of busy CPU per answer, for each placement in turn, alternated over
 * `BENCH_ROUNDS` rounds:
 *
 *   none       no work: the bare loop itself;
 *   before     in the answer's turn, before the next call is handed to undici (`pool.request`);
 *   after      in the answer's turn, right after it is handed over (a microtask);
 *   immediate  on the next check phase (setImmediate), as the answer pacer hands answers over;
 *   timer      coalesced: every answer's work in one run on a timer `BENCH_WORK_TIMER_MS` (5)
 *              after the first answer waiting, i.e. after the wave of answers has gone through.
 *
 * undici writes the next request itself on a later loop turn (its pool hands it to a connection
 * on a check phase, and a reused keep-alive connection writes it from a `setImmediate` of its
 * own), so the work of "before", "after" and "immediate" all runs before that request leaves;
 * "before" and "after" differ only in whether `pool.request`'s synchronous part runs first.
 * The timer placement assumes waves: with `BENCH_MOCK_JITTER_MS` (recorded as `mock_jitter_ms`)
 * there are none to wait out.
 *
 *   node bench/answer-work.mjs                 (npm run build first: it starts dist's mock)
 *   BENCH_WORK_US=60 BENCH_ROUNDS=3 BENCH_WORK_AT=none,after,timer node bench/answer-work.mjs
 *
 * With a fixed-latency upstream the answers come back in waves (the calls went out together);
 * the bench/README.md section "Issue 17 on an AMD EPYC machine" has what it showed. Prints one
 * JSON object: per placement, each round's ratio to C/latency and mean call time (from the
 * dispatch to the whole body), and their medians.
 */
import { median, startMock } from "./lib.mjs";

const ITEMS = Number(process.env.BENCH_ITEMS ?? 5000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 50);
const WORK_US = Number(process.env.BENCH_WORK_US ?? 50);
const TIMER_MS = Number(process.env.BENCH_WORK_TIMER_MS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PLACEMENTS = (process.env.BENCH_WORK_AT ?? "none,before,after,immediate,timer").split(",");
const WARMUP = 1000;

/** Busy CPU for `us` microseconds: the stand-in for parsing and settling an answer. */
function spin(us) {
  const end = performance.now() + us / 1000;
  while (performance.now() < end);
}

/** Work coalesced on one timer: every answer's share runs in one go, after the wave. */
function timerWork() {
  let waiting = 0;
  const run = () => {
    const n = waiting;
    waiting = 0;
    spin(WORK_US * n);
  };
  return () => {
    // The first answer waiting sets the timer; the others join its run.
    if (waiting++ === 0) setTimeout(run, TIMER_MS);
  };
}

/** The per-answer hook of a placement: `pre` runs before the next dispatch, `post` after it. */
function hooks(placement) {
  if (placement === "before") return { pre: () => spin(WORK_US), post: () => {} };
  if (placement === "after") return { pre: () => {}, post: () => spin(WORK_US) };
  if (placement === "immediate") return { pre: () => {}, post: () => setImmediate(spin, WORK_US) };
  if (placement === "timer") return { pre: () => {}, post: timerWork() };
  if (placement === "none") return { pre: () => {}, post: () => {} };
  throw new Error(`BENCH_WORK_AT: unknown placement "${placement}" (none, before, after, immediate, timer)`);
}

async function runLoop(pool, path, count, placement) {
  const { pre, post } = hooks(placement);
  const headers = { "content-type": "application/json" };
  let next = 0;
  let callMs = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const body = JSON.stringify({
        model: "mock-model",
        messages: [{ role: "user", content: `Question ${i}` }],
      });
      const t = performance.now();
      const res = await pool.request({ method: "POST", path, headers, body });
      const text = await res.body.text();
      callMs += performance.now() - t;
      if (res.statusCode !== 200) throw new Error(`mock answered ${res.statusCode}`);
      JSON.parse(text);
      pre();
      // The next call is dispatched when this function loops; `post` runs after that.
      queueMicrotask(post);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { wallMs: performance.now() - t0, callMs: callMs / count };
}

const { Pool } = await import("undici");
const mock = await startMock(LATENCY_MS);
const base = new URL(mock.url);
const path = `${base.pathname.replace(/\/+$/, "")}/chat/completions`;
const ceiling = CONCURRENCY / (LATENCY_MS / 1000);
const results = Object.fromEntries(PLACEMENTS.map((p) => [p, { ratio: [], call_ms: [] }]));
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const placement of PLACEMENTS) {
      // A fresh pool per run: every run opens its connections in its warm-up, none in its timed part.
      const pool = new Pool(base.origin, { connections: CONCURRENCY, keepAliveTimeout: 30_000 });
      await runLoop(pool, path, WARMUP, "none");
      const { wallMs, callMs } = await runLoop(pool, path, ITEMS, placement);
      await pool.close();
      results[placement].ratio.push(Math.round((ITEMS / (wallMs / 1000) / ceiling) * 1000) / 1000);
      results[placement].call_ms.push(Math.round(callMs * 100) / 100);
    }
  }
} finally {
  mock.stop();
}
for (const r of Object.values(results)) {
  r.ratio_median = median(r.ratio);
  r.call_ms_median = median(r.call_ms);
}
console.log(
  JSON.stringify(
    {
      bench: "answer-work",
      items: ITEMS,
      concurrency: CONCURRENCY,
      latency_ms: LATENCY_MS,
      mock_jitter_ms: mock.jitterMs,
      work_us_per_answer: WORK_US,
      timer_ms: TIMER_MS,
      rounds: ROUNDS,
      placements: results,
    },
    null,
    2,
  ),
);
