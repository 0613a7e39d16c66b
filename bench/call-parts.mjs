#!/usr/bin/env node
/**
 * Where a latency-bound call's time goes (issue 17.1/17.2 at 50 ms): each upstream call split into
 * its parts, measured at both ends on the machine's monotonic clock (`call-parts-hooks.mjs`,
 * preloaded into the client and into the mock LLM), for the bare loop and agentbatch side by side,
 * alternated over `BENCH_ROUNDS` rounds:
 *
 *   made → written      the client: from the call handed to undici to its head on the socket
 *                       (undici writes on a later loop turn; whatever runs first delays it);
 *   written → arrived   the wire and the mock's loop: until the mock has parsed the head;
 *   mock                the mock: from the head parsed to the answer written (the latency, and
 *                       its timer firing late when its core is busy);
 *   answered → read     the wire and the client's loop: until the client has read the answer's head;
 *   read → whole        the client: the body.
 *
 * Phases (`BENCH_PHASES`, comma-separated): `baseline` (throughput.mjs's bare undici loop),
 * `agentbatch_mock` (the service on SQLite, or PostgreSQL with `BENCH_DB`), and
 * `agentbatch_simulated`: the service on the in-process simulated model answering after the same
 * latency (`BENCH_SIMULATED_LATENCY_MS`), a latency-bound run with no HTTP call, so what the
 * engine itself costs a round. Each phase runs in a fresh mock and a fresh process
 * (`throughput.mjs --phase`, `BENCH_ITEMS` items, default 5,000, 64 in flight).
 *
 *   npm run build && node bench/call-parts.mjs
 *   BENCH_ROUNDS=3 BENCH_PHASES=baseline,agentbatch_mock node bench/call-parts.mjs
 *
 * Prints one JSON object: per phase, each round's items/s, ratio to C/latency and CPU per item,
 * the calls joined between the two ends, and each part's p50 / p90 / mean in ms.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { machineInfo, spawnNode, startMock } from "./lib.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const hooks = join(here, "call-parts-hooks.mjs");
const ITEMS = Number(process.env.BENCH_ITEMS ?? 5000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const PHASES = (process.env.BENCH_PHASES ?? "baseline,agentbatch_mock,agentbatch_simulated").split(",");

const round2 = (x) => Math.round(x * 100) / 100;

/** p50, p90 and mean of `values`, in ms. */
function summary(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => round2(sorted[Math.floor(q * (sorted.length - 1))] ?? 0);
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
  return { p50: at(0.5), p90: at(0.9), mean: round2(mean) };
}

/**
 * The last ITEMS calls (the timed ones: the warm-up's come first) joined with the mock's records
 * of them: a connection's calls in the order they were written, its requests in the order they
 * arrived. A connection whose counts differ at the two ends (none seen) is left out and counted
 * (`calls_unmatched`).
 */
function parts(client, mock) {
  const byPort = (rows, port, at) => {
    const map = new Map();
    for (const r of rows) {
      const list = map.get(r[port]) ?? [];
      list.push(r);
      map.set(r[port], list);
    }
    for (const list of map.values()) list.sort((a, b) => a[at] - b[at]);
    return map;
  };
  const served = byPort(mock.served, 2, 0);
  const joined = [];
  let unmatched = 0;
  for (const [port, calls] of byPort(client.calls, 4, 1)) {
    const answers = served.get(port);
    if (!answers || answers.length !== calls.length) {
      unmatched += calls.length;
      continue;
    }
    for (let i = 0; i < calls.length; i++) joined.push([calls[i], answers[i]]);
  }
  joined.sort((a, b) => a[0][0] - b[0][0]);
  const timed = joined.slice(-ITEMS);
  const part = (f) => summary(timed.map(([c, m]) => f(c, m)));
  return {
    calls_joined: timed.length,
    // Calls on a connection whose counts differ at the two ends (none seen): left out, so the
    // last ITEMS joined would reach back into the warm-up's.
    calls_unmatched: unmatched,
    made_to_written: part((c) => c[1] - c[0]),
    written_to_arrived: part((c, m) => m[0] - c[1]),
    mock: part((_, m) => m[1] - m[0]),
    answered_to_read: part((c, m) => c[2] - m[1]),
    read_to_whole: part((c) => c[3] - c[2]),
    total: part((c) => c[3] - c[0]),
  };
}

async function runPhase(phase, dir) {
  const mockFile = join(dir, `${phase}-mock.json`);
  const clientFile = join(dir, `${phase}-client.json`);
  // The mock at LATENCY_MS with the hooks preloaded; it writes them when stopped (SIGTERM).
  const mock = await startMock(LATENCY_MS, {
    nodeArgs: ["--import", hooks],
    env: { ...process.env, CALL_PARTS_OUT: mockFile },
  });
  let result;
  try {
    const env = { ...process.env, CALL_PARTS_OUT: clientFile, BENCH_ITEMS: String(ITEMS) };
    if (phase === "agentbatch_simulated") env.BENCH_SIMULATED_LATENCY_MS = String(LATENCY_MS);
    const args = ["--import", hooks, join(here, "throughput.mjs"), "--phase", phase, "--mock-url", mock.url];
    const out = await spawnNode(args, { env }).done;
    result = JSON.parse(out.split("\n").findLast((l) => l.startsWith("{")));
  } finally {
    mock.stop();
    await mock.exited;
  }
  const ceiling = CONCURRENCY / (LATENCY_MS / 1000);
  const row = {
    items_per_s: result.items_per_s,
    ratio: Math.round((result.items_per_s / ceiling) * 1000) / 1000,
    cpu_ms_per_item: result.cpu_ms_per_item,
  };
  // The simulated model makes no HTTP call: nothing to split.
  if (phase === "agentbatch_simulated") return row;
  return {
    ...row,
    ...parts(JSON.parse(readFileSync(clientFile, "utf8")), JSON.parse(readFileSync(mockFile, "utf8"))),
  };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "call-parts-"));
  const rounds = Object.fromEntries(PHASES.map((p) => [p, []]));
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (const phase of PHASES) rounds[phase].push(await runPhase(phase, dir));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const summaryOut = {
    machine: machineInfo(),
    items: ITEMS,
    concurrency: CONCURRENCY,
    latency_ms: LATENCY_MS,
    database: process.env.BENCH_DB ? "postgres" : "sqlite",
    rounds,
  };
  process.stdout.write(`${JSON.stringify(summaryOut, null, 2)}\n`);
}

await main();
