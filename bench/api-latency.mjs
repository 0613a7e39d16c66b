#!/usr/bin/env node
/**
 * What the HTTP API costs, and how long it keeps a client waiting while the engine runs flat out.
 * The service runs in a child process (SQLite in a temp dir, the simulated model), one per phase:
 *
 *   idle   CPU of the phase process per request (`process.cpuUsage`, all its threads) for
 *          `GET /api/v1/batches?status=completed&limit=6` and `GET /api/v1/batches/{id}` over
 *          `BENCH_REQUESTS` requests each, one at a time on a keep-alive connection (undici), after
 *          as many for warm-up; nothing else runs. The client runs in that process too: its CPU
 *          is in the figure, the same for every build (compare builds, not absolutes);
 *   busy   the engine runs `BENCH_ITEMS` simulated items (64 in flight) as fast as it can; once
 *          their batches of 1,000 are POSTed (the engine starts on the first meanwhile), a client
 *          reads `GET /api/v1/batches/{id}` every 2 ms until the last batch is done: that read's
 *          p50 / p99 / max and how many took over 30 ms, and the service's event-loop delay
 *          (`monitorEventLoopDelay`, 1 ms resolution) p99 / max over the same reads. items/s
 *          counts from the first POST.
 *
 *   npm run build && node bench/api-latency.mjs
 *   BENCH_BASELINE_ROOT=/tmp/base node bench/api-latency.mjs   # another build, alternated with this one
 *
 * With `BENCH_BASELINE_ROOT` (a checkout built with `npm run build` or `tsc -p tsconfig.build.json`)
 * each of `BENCH_ROUNDS` rounds runs the baseline's phases then this build's, so both see the same
 * machine. Prints one JSON object: per build, each round's figures.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { machineInfo, spawnNode } from "./lib.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(process.env.BENCH_ROOT ?? resolve(here, ".."));
const BASELINE_ROOT = process.env.BENCH_BASELINE_ROOT ? resolve(process.env.BENCH_BASELINE_ROOT) : null;
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 3000);
const ITEMS = Number(process.env.BENCH_ITEMS ?? 40_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);

const round1 = (x) => Math.round(x * 10) / 10;

/** p50 / p99 / max of `values` (ms), and how many are over 30 ms. */
function latencies(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => round1(sorted[Math.floor(q * (sorted.length - 1))] ?? 0);
  return {
    n: sorted.length,
    p50: at(0.5),
    p99: at(0.99),
    max: round1(sorted.at(-1) ?? 0),
    over_30: sorted.filter((x) => x > 30).length,
  };
}

/** The service of `root` in this process (the phase child): its URL, a key and a published agent. */
async function startService(root) {
  const { loadConfig } = await import(join(root, "dist/config/index.js"));
  const { createLogger, startService: start } = await import(join(root, "dist/service.js"));
  const { generateApiKey, registerApiKey } = await import(join(root, "dist/server/auth.js"));
  const dir = mkdtempSync(join(tmpdir(), "api-latency-"));
  const config = loadConfig({ port: 0, host: "127.0.0.1", db: `sqlite:${join(dir, "bench.db")}` }, {});
  config.logLevel = "silent";
  // The bench reads far faster than a client may: the per-key limit is not what is measured.
  config.rateLimit.enabled = false;
  config.engine.concurrency = 64;
  const service = await start(config, { api: true, worker: true, logger: createLogger("silent") });
  const key = generateApiKey();
  await registerApiKey(service.store, key);
  const { Pool } = await import(join(root, "node_modules/undici/index.js"));
  const pool = new Pool(service.url.replace(/\/$/, ""), { connections: 1 });
  const call = async (method, path, body) => {
    const res = await pool.request({
      method,
      path: `/api/v1${path}`,
      headers: { "x-api-key": key, ...(body ? { "content-type": "application/json" } : {}) },
      body,
    });
    const json = await res.body.json();
    if (res.statusCode >= 300)
      throw new Error(`${method} ${path}: ${res.statusCode} ${JSON.stringify(json)}`);
    return json;
  };
  const agent = (await call("POST", "/agents", JSON.stringify({ name: "bench", model: "simulated/echo" })))
    .data;
  await call("POST", `/agents/${agent.id}/publish`);
  const post = (count, prefix) =>
    call(
      "POST",
      "/batches",
      JSON.stringify({
        agent_id: agent.id,
        requests: Array.from({ length: count }, (_, i) => ({
          custom_id: `${prefix}-${i}`,
          message: `${prefix} ${i}`,
        })),
      }),
    );
  const close = async () => {
    await pool.close();
    await service.close(5000);
    rmSync(dir, { recursive: true, force: true });
  };
  return { call, post, close };
}

/** The service's CPU per request of each kind, with nothing else running. */
async function idle(root) {
  const { call, post, close } = await startService(root);
  for (let b = 0; b < 6; b++) await post(1, `b${b}`);
  const last = (await post(1, "last")).data;
  // Done (one item each): the list below reads completed batches.
  while ((await call("GET", `/batches/${last.id}`)).data.status !== "completed") {
    await new Promise((r) => setTimeout(r, 20));
  }
  const perRequest = async (path) => {
    for (let i = 0; i < REQUESTS; i++) await call("GET", path);
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < REQUESTS; i++) await call("GET", path);
    const cpu = process.cpuUsage(cpu0);
    return Math.round((cpu.user + cpu.system) / REQUESTS);
  };
  const result = {
    list_cpu_us_per_request: await perRequest("/batches?status=completed&limit=6"),
    get_cpu_us_per_request: await perRequest(`/batches/${last.id}`),
  };
  await close();
  return result;
}

/** GET latency and event-loop delay while the engine runs ITEMS items flat out. */
async function busy(root) {
  const { call, post, close } = await startService(root);
  const t0 = performance.now();
  let last;
  for (let b = 0; b < Math.ceil(ITEMS / 1000); b++) last = (await post(1000, `q${b}`)).data;
  // Measured over the reads: the POSTs' own ingest is not what a reader waits behind here.
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const reads = [];
  for (;;) {
    const t = performance.now();
    const batch = (await call("GET", `/batches/${last.id}`)).data;
    reads.push(performance.now() - t);
    if (batch.status === "completed") break;
    await new Promise((r) => setTimeout(r, 2));
  }
  const wallMs = performance.now() - t0;
  delay.disable();
  await close();
  return {
    items_per_s: Math.round((ITEMS / wallMs) * 1000),
    get_batch_ms: latencies(reads),
    event_loop_delay_ms: { p99: round1(delay.percentile(99) / 1e6), max: round1(delay.max / 1e6) },
  };
}

/** One phase of one build in a child process of its own (its CPU and heap its own). */
async function runChild(root, phase) {
  const out = await spawnNode([fileURLToPath(import.meta.url), "--phase", phase, root]).done;
  return JSON.parse(out.trim().split("\n").at(-1));
}

async function main() {
  const phaseArg = process.argv.indexOf("--phase");
  if (phaseArg !== -1) {
    const phase = process.argv[phaseArg + 1];
    const root = process.argv[phaseArg + 2];
    const result = phase === "idle" ? await idle(root) : await busy(root);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    // The service's handles (pools, timers) are closed; what is left must not hold the phase open.
    process.exit(0);
  }
  const builds = BASELINE_ROOT ? { baseline: BASELINE_ROOT, this_build: ROOT } : { this_build: ROOT };
  const rounds = Object.fromEntries(Object.keys(builds).map((b) => [b, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, root] of Object.entries(builds)) {
      rounds[name].push({ ...(await runChild(root, "idle")), ...(await runChild(root, "busy")) });
    }
  }
  const summary = {
    machine: machineInfo(),
    requests: REQUESTS,
    items: ITEMS,
    builds,
    rounds,
  };
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
}

await main();
