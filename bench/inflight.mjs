#!/usr/bin/env node
/**
 * In-flight benchmark: many slow model calls at once in one process.
 *
 *   npm run build && node bench/inflight.mjs
 *   BENCH_INFLIGHT=10000 BENCH_LATENCY_MS=2000 BENCH_ROUNDS=3 node bench/inflight.mjs
 *   BENCH_INFLIGHT_ROOT=/tmp/base node bench/inflight.mjs   # the build in /tmp/base/dist (a baseline, same session)
 *   BENCH_INFLIGHT_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" node bench/inflight.mjs   # node flags for the measured process
 *   BENCH_ENGINE_THREAD=1 node bench/inflight.mjs   # engine.thread on: the engine in a worker thread (a build without the option ignores it)
 *   (unset: the build's default; "auto" since issue 17.3's fourth pass, on at 10,000 in flight)
 *   BENCH_COMMIT_BATCH=400 BENCH_CLAIM_BATCH=500 node bench/inflight.mjs   # engine group sizes (unset: the build's)
 *   BENCH_INFLIGHT_TRACE=1 node bench/inflight.mjs   # stderr: each poll's processing/done, and CPU ms by thread
 *   BENCH_INFLIGHT_BARE=0 node bench/inflight.mjs     # without the bare loop (run first by default)
 *   BENCH_MOCK_BACKLOG=4096 node bench/inflight.mjs   # the mock's listen queue (unset: Node's 511; see below)
 *
 * `bare` (first, unless BENCH_INFLIGHT_BARE=0) is this shape's ceiling on this machine: an undici
 * loop keeping INFLIGHT calls in flight against the same mock over the same ITEMS, no storage, no
 * queue, no warm-up (its first round opens its connections as agentbatch's does); agentbatch's
 * `ratio_to_bare` is beside its ratio to the ideal. Both report CPU per item by third (the first
 * third is the first round: connections, and agentbatch's POSTs), the first round's arrivals at
 * the mock (p50/p90/p99/max after the first call) and the machine's TCP listen drops and SYN
 * retransmits over their phase (Linux, all processes): 10,000 connections opened within
 * milliseconds overflow the mock's 511-deep accept queue, and each dropped handshake is retried
 * after 1 s, 3 s…
 *
 * The mock LLM (dist/cli/main.js mock-llm, BENCH_LATENCY_MS per answer) runs in a child process;
 * agentbatch runs in a child process of its own (SQLite in a temp dir, engine concurrency and the
 * provider's max concurrency both BENCH_INFLIGHT) so its CPU and peak RSS are its own. It is
 * given BENCH_ROUNDS × BENCH_INFLIGHT items; the ideal rate is INFLIGHT / latency (every slot
 * always busy). While it runs, a probe reads `GET /api/v1/batches/{id}` every 100 ms and the
 * bench reports its p50/p99: the API must stay responsive while the engine is saturated.
 *
 * Prints one JSON object: items/s, the ratio to the ideal rate, peak RSS (and its heap / external / ArrayBuffer split at the peak), CPU ms per item, the
 * probe's latencies, the event loop's delay (perf_hooks.monitorEventLoopDelay, 10 ms resolution:
 * how late a timer of the agentbatch process fires, i.e. how long its synchronous bursts are) and
 * its garbage-collection pauses (PerformanceObserver 'gc'), both over the measured phase.
 *
 * Where the wall time goes: `timeline_ms` (the POSTs done, 95 % of INFLIGHT held, a third and two
 * thirds of the items done), `middle_third_ratio` (the rate between those two: no ramp, no tail),
 * `ratio_from_first_call` (from the first model call to the last answer, from the mock's log:
 * without the POSTs), `cores_used` / `mock_cores_used` (each process's CPU over the wall time) and
 * `machine_busy` (all cores, /proc/stat: 1 = the machine was saturated, by anything).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import {
  apiCaller,
  completedAtMs,
  cpuByThread,
  pidCpuMs,
  spawnNode,
  startMock,
  threadCpuMs,
} from "./lib.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** The agentbatch build measured (its dist/): this checkout's, or another's for a same-session baseline. */
const distRoot = resolve(process.env.BENCH_INFLIGHT_ROOT ?? root);
const INFLIGHT = Number(process.env.BENCH_INFLIGHT ?? 10_000);
const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ITEMS = INFLIGHT * ROUNDS;
const PER_BATCH = 1000;

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * The machine's TCP handshakes dropped at a full accept queue and SYNs sent again so far (Linux
 * /proc/net/netstat, all processes): 10,000 connections opened at once overflow the mock's
 * listen queue, and each dropped handshake waits 1 s (then 3 s, 7 s…) for its retry.
 */
function tcpDrops() {
  try {
    const lines = readFileSync("/proc/net/netstat", "utf8").split("\n");
    const i = lines.findIndex((l) => l.startsWith("TcpExt:"));
    const names = lines[i].split(" ");
    const values = lines[i + 1].split(" ").map(Number);
    const get = (n) => values[names.indexOf(n)] ?? 0;
    return { listen_drops: get("ListenDrops"), syn_retransmits: get("TCPSynRetrans") };
  } catch {
    return { listen_drops: 0, syn_retransmits: 0 };
  }
}

function tcpDropsSince(before) {
  const now = tcpDrops();
  return {
    listen_drops: now.listen_drops - before.listen_drops,
    syn_retransmits: now.syn_retransmits - before.syn_retransmits,
  };
}

/** Percentiles of the first INFLIGHT calls' arrival at the mock, ms after the first one's. */
function firstRoundArrivals(log) {
  const at = log
    .map((e) => e.at)
    .sort((a, b) => a - b)
    .slice(0, INFLIGHT);
  if (at.length === 0) return null;
  const rel = (p) => percentile(at, p) - at[0];
  return { p50: rel(50), p90: rel(90), p99: rel(99), max: at.at(-1) - at[0] };
}

function perItem(a, b, items) {
  return Math.round(((b.user + b.system - a.user - a.system) / 1000 / items) * 1000) / 1000;
}

/** CPU ms per item between two points: the whole process, its main (API) thread and its busiest other (the engine's). */
function cpuPart(cpuA, cpuB, threadsA, threadsB, items) {
  const per = (ms) => Math.round((ms / Math.max(1, items)) * 1000) / 1000;
  const total = (cpuB.user + cpuB.system - cpuA.user - cpuA.system) / 1000;
  const used = (tid) => (threadsB.get(tid)?.ms ?? 0) - (threadsA.get(tid)?.ms ?? 0);
  let main = 0;
  let top = 0;
  for (const tid of threadsB.keys()) {
    if (Number(tid) === process.pid) main = used(tid);
    else top = Math.max(top, used(tid));
  }
  return { process: per(total), main: per(main), busiest_other: per(top) };
}

/** The machine's CPU ticks so far, busy and total, all cores (Linux /proc/stat). */
function machineTicks() {
  try {
    const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: total - f[3] - (f[4] ?? 0), total };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/**
 * The bare loop (unless BENCH_INFLIGHT_BARE=0): the machine's own ceiling for this shape. An
 * undici loop keeping INFLIGHT calls in flight against the same mock over the same ITEMS, no
 * storage, no queue, no API (bench/throughput.mjs's `baseline`, without its warm-up: the first
 * round opens its connections as agentbatch's does). Its connections are split over pools of at
 * most 64, as agentbatch's provider splits them (src/providers/upstream-pools.ts), each call on
 * a pool with a connection to spare, the one freed last first. Runs in a child process of its
 * own, before agentbatch's; its timeline is from its first call (it has no POSTs).
 */
async function bare(mockUrl) {
  const { Pool } = await import("undici");
  const base = new URL(mockUrl);
  const path = `${base.pathname.replace(/\/+$/, "")}/chat/completions`;
  const count = Math.max(1, Math.ceil(INFLIGHT / 64));
  const capacity = Array.from(
    { length: count },
    (_, i) => Math.floor(INFLIGHT / count) + (i < INFLIGHT % count ? 1 : 0),
  );
  const pools = capacity.map(
    (connections) => new Pool(base.origin, { connections, keepAliveTimeout: 30_000 }),
  );
  const inFlight = pools.map(() => 0);
  // The pools with a connection to spare (never empty: INFLIGHT calls on INFLIGHT connections).
  const spare = pools.map((_, i) => count - 1 - i);
  const headers = { "content-type": "application/json", accept: "application/json, text/event-stream" };
  let peakRss = process.memoryUsage.rss();
  const rssTimer = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 50);
  let failures = 0;
  let next = 0;
  let done = 0;
  let thirdAt = null;
  let twoThirdsAt = null;
  let cpuThird = null;
  let cpuTwoThirds = null;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  // One call: undici's dispatch with a minimal handler that collects the body (as agentbatch's
  // non-streamed calls do, src/providers/http-upstream.ts), then JSON.parse of the answer.
  const call = (pool, body) =>
    new Promise((resolve, reject) => {
      let status = 0;
      const chunks = [];
      pool.dispatch(
        { method: "POST", path, headers, body },
        {
          onConnect() {},
          onHeaders(code) {
            status = code;
            return true;
          },
          onData(chunk) {
            chunks.push(chunk);
            return true;
          },
          onComplete() {
            resolve({ status, text: Buffer.concat(chunks).toString("utf8") });
          },
          onError: reject,
        },
      );
    });
  const errors = {};
  const worker = async () => {
    while (next < ITEMS) {
      const i = next++;
      const body = JSON.stringify({
        model: "mock-model",
        messages: [{ role: "user", content: `Question ${i}` }],
      });
      const shard = spare[spare.length - 1];
      if (++inFlight[shard] === capacity[shard]) spare.pop();
      try {
        const res = await call(pools[shard], body);
        const payload = JSON.parse(res.text);
        if (res.status !== 200 || typeof payload.choices?.[0]?.message?.content !== "string") {
          failures++;
          errors[res.status] = (errors[res.status] ?? 0) + 1;
        }
      } catch (err) {
        failures++;
        const code = err?.code ?? String(err).slice(0, 60);
        errors[code] = (errors[code] ?? 0) + 1;
      } finally {
        if (inFlight[shard]-- === capacity[shard]) spare.push(shard);
      }
      done++;
      if (thirdAt === null && done >= ITEMS / 3) {
        thirdAt = performance.now() - t0;
        cpuThird = process.cpuUsage(cpu0);
      }
      if (twoThirdsAt === null && done >= (ITEMS * 2) / 3) {
        twoThirdsAt = performance.now() - t0;
        cpuTwoThirds = process.cpuUsage(cpu0);
      }
    }
  };
  await Promise.all(Array.from({ length: INFLIGHT }, worker));
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(rssTimer);
  await Promise.all(pools.map((p) => p.close()));
  const itemsPerS = (ITEMS / wallMs) * 1000;
  const ideal = (INFLIGHT / LATENCY_MS) * 1000;
  return {
    items: ITEMS,
    failed: failures,
    ...(failures > 0 && { failures_by_kind: errors }),
    wall_ms: Math.round(wallMs),
    items_per_s: Math.round(itemsPerS),
    ratio_to_ideal: Math.round((itemsPerS / ideal) * 1000) / 1000,
    timeline_ms: { third_done: Math.round(thirdAt), two_thirds_done: Math.round(twoThirdsAt) },
    middle_third_ratio: Math.round(((ITEMS / 3 / (twoThirdsAt - thirdAt)) * 1000 * 1000) / ideal) / 1000,
    cpu_ms_per_item: Math.round(((cpu.user + cpu.system) / 1000 / ITEMS) * 1000) / 1000,
    cpu_ms_per_item_by_third: {
      first: perItem({ user: 0, system: 0 }, cpuThird, ITEMS / 3),
      middle: perItem(cpuThird, cpuTwoThirds, ITEMS / 3),
      last: perItem(cpuTwoThirds, cpu, ITEMS / 3),
    },
    cores_used: Math.round(((cpu.user + cpu.system) / 1000 / wallMs) * 100) / 100,
    peak_rss_mb: Math.round(peakRss / 1024 / 1024),
  };
}

/** The measured phase, in a child process of its own. */
async function phase(mockUrl) {
  const { loadConfig } = await import(join(distRoot, "dist/config/index.js"));
  const { createLogger, startService } = await import(join(distRoot, "dist/service.js"));
  const { generateApiKey, registerApiKey } = await import(join(distRoot, "dist/server/auth.js"));
  const dir = mkdtempSync(join(tmpdir(), "agentbatch-inflight-"));
  const config = loadConfig({ port: 0, host: "127.0.0.1", db: `sqlite:${join(dir, "bench.db")}` }, {});
  config.logLevel = "silent";
  config.engine.concurrency = INFLIGHT;
  // Group sizes to try (unset: the build's defaults).
  if (process.env.BENCH_COMMIT_BATCH) config.engine.commitBatchSize = Number(process.env.BENCH_COMMIT_BATCH);
  if (process.env.BENCH_CLAIM_BATCH) config.engine.claimBatchSize = Number(process.env.BENCH_CLAIM_BATCH);
  // engine.thread (src/threads/): set only when asked, so a build without the option runs as it is.
  const thread = process.env.BENCH_ENGINE_THREAD;
  if (thread) config.engine.thread = thread === "auto" ? thread : thread === "1" || thread === "true";
  config.providers.mock = { type: "openai-compatible", baseUrl: mockUrl, maxConcurrency: INFLIGHT };
  const service = await startService(config, { api: true, worker: true, logger: createLogger("silent") });
  // Whether the engine did run in a thread (the default "auto" decides by concurrency); a build
  // without the option reports none.
  const engineThreadRan = service.engineThread;
  const key = generateApiKey();
  const workspace = await registerApiKey(service.store, key);
  const api = apiCaller(service.url, key);
  const agent = (await api("POST", "/agents", { name: "inflight", model: "mock/mock-model" })).data;
  await api("POST", `/agents/${agent.id}/publish`);

  let peakRss = process.memoryUsage.rss();
  // The split at the peak: V8's heap against memory outside it (Buffers, SQLite, sockets).
  // memoryUsage() costs more than rss(): taken only at a new peak.
  let atPeak = process.memoryUsage();
  const rssTimer = setInterval(() => {
    const rss = process.memoryUsage.rss();
    if (rss > peakRss) {
      peakRss = rss;
      atPeak = process.memoryUsage();
    }
  }, 50);
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const gcPauses = [];
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcPauses.push(e.duration);
  });
  gcObserver.observe({ entryTypes: ["gc"] });
  // With --expose-gc (BENCH_INFLIGHT_NODE_ARGS): the live heap idle and once while saturated,
  // after a full collection, for the retained size per item held (the collection skews the run).
  const liveHeap = globalThis.gc ? { idle_mb: 0, saturated_mb: 0, processing: 0 } : undefined;
  if (liveHeap) {
    globalThis.gc();
    liveHeap.idle_mb = process.memoryUsage().heapUsed / 1024 / 1024;
  }
  const cpu0 = process.cpuUsage();
  const threads0 = threadCpuMs();
  const t0 = performance.now();
  const epoch0 = Date.now();
  let finishedAt = 0;
  const ids = [];
  for (let b = 0; b * PER_BATCH < ITEMS; b++) {
    const requests = Array.from({ length: Math.min(PER_BATCH, ITEMS - b * PER_BATCH) }, (_, i) => ({
      custom_id: `r-${b * PER_BATCH + i}`,
      message: `Question ${b * PER_BATCH + i}`,
    }));
    ids.push((await api("POST", "/batches", { agent_id: agent.id, requests })).data.id);
  }
  const postedMs = performance.now() - t0;
  const probes = [];
  let peakInFlight = 0;
  // Timeline (ms from the first POST): when the engine first held 95 % of INFLIGHT, and when a
  // third / two thirds of the items were done (the middle third's rate is the steady state's).
  let fullAtMs = null;
  let thirdAt = null;
  let twoThirdsAt = null;
  for (;;) {
    const p0 = performance.now();
    const one = await api("GET", `/batches/${ids[ids.length - 1]}`);
    probes.push(performance.now() - p0);
    const page = await api("GET", "/batches?limit=1000");
    let done = 0;
    let processing = 0;
    for (const b of page.data) {
      done += b.completed_requests + b.failed_requests;
      processing += b.processing_requests ?? 0;
    }
    peakInFlight = Math.max(peakInFlight, processing);
    const now = performance.now() - t0;
    if (fullAtMs === null && processing >= INFLIGHT * 0.95) fullAtMs = now;
    if (process.env.BENCH_INFLIGHT_TRACE)
      process.stderr.write(`${Math.round(now)} processing=${processing} done=${done}\n`);
    if (thirdAt === null && done >= ITEMS / 3)
      thirdAt = { ms: now, done, cpu: process.cpuUsage(cpu0), threads: threadCpuMs() };
    if (twoThirdsAt === null && done >= (ITEMS * 2) / 3)
      twoThirdsAt = { ms: now, done, cpu: process.cpuUsage(cpu0), threads: threadCpuMs() };
    if (liveHeap && liveHeap.processing === 0 && processing >= INFLIGHT) {
      globalThis.gc();
      liveHeap.saturated_mb = process.memoryUsage().heapUsed / 1024 / 1024;
      liveHeap.processing = processing;
    }
    if (done >= ITEMS && one.data) {
      finishedAt = await completedAtMs(service.store, workspace.id, page.data);
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const polledMs = performance.now() - t0;
  // Until the last batch's completion (exact, from the store): the 100 ms poll that noticed it is not the engine's time.
  const wallMs = Math.min(polledMs, Math.max(1, finishedAt - epoch0));
  const cpu = process.cpuUsage(cpu0);
  const threads1 = threadCpuMs();
  clearInterval(rssTimer);
  loopDelay.disable();
  gcObserver.disconnect();
  let failed = 0;
  for (const b of (await api("GET", "/batches?limit=1000")).data) failed += b.failed_requests;
  await service.close(5000);
  rmSync(dir, { recursive: true, force: true });
  const sorted = probes.sort((a, b) => a - b);
  const gcSorted = gcPauses.sort((a, b) => a - b);
  const ms = (ns) => Math.round(ns / 1e5) / 10;
  const mb = (bytes) => Math.round(bytes / 1024 / 1024);
  const itemsPerS = (ITEMS / wallMs) * 1000;
  const ideal = (INFLIGHT / LATENCY_MS) * 1000;
  return {
    items: ITEMS,
    engine_thread_ran: engineThreadRan ?? null,
    failed,
    wall_ms: Math.round(wallMs),
    polled_wall_ms: Math.round(polledMs),
    items_per_s: Math.round(itemsPerS),
    ideal_items_per_s: Math.round(ideal),
    // Start-up (the first LATENCY of ramp) and the tail are included: with ROUNDS rounds the best
    // possible wall time is (ROUNDS) × latency plus submission, so the ratio's ceiling is below 1.
    ratio_to_ideal: Math.round((itemsPerS / ideal) * 1000) / 1000,
    peak_in_flight_seen: peakInFlight,
    // Where the wall time goes (ms from the first POST, 100 ms poll resolution): the 30 POSTs,
    // the engine holding 95 % of INFLIGHT, and the middle third's rate (no ramp, no tail).
    timeline_ms: {
      posted: Math.round(postedMs),
      full: fullAtMs === null ? null : Math.round(fullAtMs),
      third_done: thirdAt && Math.round(thirdAt.ms),
      two_thirds_done: twoThirdsAt && Math.round(twoThirdsAt.ms),
    },
    middle_third_ratio:
      thirdAt && twoThirdsAt && twoThirdsAt.ms > thirdAt.ms
        ? Math.round(
            ((twoThirdsAt.done - thirdAt.done) / (twoThirdsAt.ms - thirdAt.ms) / (INFLIGHT / LATENCY_MS)) *
              1000,
          ) / 1000
        : null,
    // CPU per item done in each third (at the 100 ms polls that saw a third and two thirds
    // done): the first third holds the POSTs' ingest, the connections and the first round's
    // burst; the middle third is the steady state. By thread as cpu_ms_per_item_by_thread.
    ...(thirdAt &&
      twoThirdsAt && {
        cpu_ms_per_item_by_third: {
          first: cpuPart({ user: 0, system: 0 }, thirdAt.cpu, threads0, thirdAt.threads, thirdAt.done),
          middle: cpuPart(
            thirdAt.cpu,
            twoThirdsAt.cpu,
            thirdAt.threads,
            twoThirdsAt.threads,
            twoThirdsAt.done - thirdAt.done,
          ),
          last: cpuPart(twoThirdsAt.cpu, cpu, twoThirdsAt.threads, threads1, ITEMS - twoThirdsAt.done),
        },
      }),
    // Cores this process used on average over the wall time (2 = both cores of this machine).
    cores_used: Math.round(((cpu.user + cpu.system) / 1000 / polledMs) * 100) / 100,
    peak_rss_mb: Math.round(peakRss / 1024 / 1024),
    at_peak_rss_mb: {
      heap_total: mb(atPeak.heapTotal),
      heap_used: mb(atPeak.heapUsed),
      external: mb(atPeak.external),
      array_buffers: mb(atPeak.arrayBuffers),
    },
    ...(liveHeap && {
      live_heap: {
        idle_mb: Math.round(liveHeap.idle_mb),
        saturated_mb: Math.round(liveHeap.saturated_mb),
        processing: liveHeap.processing,
        kb_per_item: Math.round(
          ((liveHeap.saturated_mb - liveHeap.idle_mb) * 1024) / Math.max(1, liveHeap.processing),
        ),
      },
    }),
    cpu_ms_per_item: Math.round(((cpu.user + cpu.system) / 1000 / ITEMS) * 1000) / 1000,
    // The same by thread (Linux): with engine.thread the busiest other thread is the engine's.
    cpu_ms_per_item_by_thread: cpuByThread(threads0, threads1, ITEMS),
    get_batch_probe_ms: {
      samples: sorted.length,
      p50: Math.round(percentile(sorted, 50) * 10) / 10,
      p99: Math.round(percentile(sorted, 99) * 10) / 10,
      max: Math.round(sorted[sorted.length - 1] * 10) / 10,
    },
    // Nanoseconds in the histogram; the 10 ms sampling interval itself is subtracted by Node.
    event_loop_delay_ms: {
      p50: ms(loopDelay.percentile(50)),
      p99: ms(loopDelay.percentile(99)),
      max: ms(loopDelay.max),
      mean: ms(loopDelay.mean),
    },
    gc_pauses: {
      count: gcPauses.length,
      total_ms: Math.round(gcPauses.reduce((a, b) => a + b, 0)),
      p99_ms: Math.round((percentile(gcSorted, 99) ?? 0) * 10) / 10,
      max_ms: Math.round((gcSorted.at(-1) ?? 0) * 10) / 10,
    },
  };
}

async function main() {
  if (process.argv[2] === "--phase") {
    process.stdout.write(`${JSON.stringify(await phase(process.argv[3]))}\n`);
    return;
  }
  if (process.argv[2] === "--bare") {
    process.stdout.write(`${JSON.stringify(await bare(process.argv[3]))}\n`);
    return;
  }
  const loadAtStart = loadavg()[0];
  const mock = await startMock(LATENCY_MS);
  try {
    const mockUrl = mock.url;
    let bareResult = null;
    let logOffset = 0;
    if (process.env.BENCH_INFLIGHT_BARE !== "0") {
      const mockCpuBare0 = pidCpuMs(mock.pid);
      const tcpBare0 = tcpDrops();
      const bareOut = await spawnNode([fileURLToPath(import.meta.url), "--bare", mockUrl]).done;
      bareResult = JSON.parse(bareOut.trim().split("\n").at(-1));
      bareResult.mock_cpu_ms_per_item =
        Math.round(((pidCpuMs(mock.pid) - mockCpuBare0) / bareResult.items) * 1000) / 1000;
      bareResult.tcp = tcpDropsSince(tcpBare0);
      logOffset = (await (await fetch(`${new URL(mockUrl).origin}/_mock/stats`)).json()).total;
      // Let the bare loop's closed connections and the mock's garbage settle before agentbatch's run.
      await new Promise((r) => setTimeout(r, 2000));
    }
    // e.g. BENCH_INFLIGHT_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof": node flags for the measured process.
    const nodeArgs = (process.env.BENCH_INFLIGHT_NODE_ARGS ?? "").split(" ").filter(Boolean);
    const mockCpu0 = pidCpuMs(mock.pid);
    const machine0 = machineTicks();
    const tcp0 = tcpDrops();
    const out = await spawnNode([...nodeArgs, fileURLToPath(import.meta.url), "--phase", mockUrl]).done;
    const result = JSON.parse(out.trim().split("\n").at(-1));
    // The mock shares the machine's cores: its CPU per item is what the ideal rate costs it.
    const mockMs = pidCpuMs(mock.pid) - mockCpu0;
    const machine1 = machineTicks();
    // Machine-wide: another process's connections count too.
    result.tcp = tcpDropsSince(tcp0);
    result.mock_cpu_ms_per_item = Math.round((mockMs / result.items) * 1000) / 1000;
    // The rate from the first model call to the last answer, as the mock saw them (its log
    // records each answer when sent, LATENCY_MS after the call came): without the POSTs before
    // the first call, so the ramp (claims, connects) and the tail are all that is left in it.
    const fullLog = await (await fetch(`${new URL(mockUrl).origin}/_mock/log`)).json();
    const log = fullLog.slice(logOffset);
    // When the first round's calls reached the mock (its log records each answer when sent,
    // LATENCY_MS after the call came), from the first: with every call sent within a few turns,
    // the spread is the connections' (a handshake dropped at the mock's full accept queue is
    // retried after 1 s, 3 s…).
    result.first_round_arrivals_ms = firstRoundArrivals(log);
    if (bareResult) bareResult.first_round_arrivals_ms = firstRoundArrivals(fullLog.slice(0, logOffset));
    if (log.length === result.items) {
      let first = Number.POSITIVE_INFINITY;
      let last = 0;
      for (const e of log) {
        if (e.at < first) first = e.at;
        if (e.at > last) last = e.at;
      }
      const callsMs = last - (first - LATENCY_MS);
      result.first_call_to_last_answer_ms = callsMs;
      result.ratio_from_first_call =
        Math.round((result.items / callsMs / (INFLIGHT / LATENCY_MS)) * 1000) / 1000;
    }
    result.mock_cores_used = Math.round((mockMs / result.polled_wall_ms) * 100) / 100;
    // The whole machine's busy share over the run (this bench, the mock and anything else running):
    // 1 = every core busy throughout, so the rate is CPU-bound.
    result.machine_busy =
      Math.round(((machine1.busy - machine0.busy) / Math.max(1, machine1.total - machine0.total)) * 100) /
      100;
    const summary = {
      machine: {
        cpus: cpus().length,
        node: process.version,
        loadavg_1m_at_start: loadAtStart,
        loadavg_1m: loadavg()[0],
      },
      inflight: INFLIGHT,
      latency_ms: LATENCY_MS,
      rounds: ROUNDS,
      build: distRoot,
      engine_thread_setting: process.env.BENCH_ENGINE_THREAD ?? "default",
      mock_backlog: process.env.BENCH_MOCK_BACKLOG ? Number(process.env.BENCH_MOCK_BACKLOG) : "default (511)",
      ...result,
      ...(bareResult && {
        // agentbatch's whole-run rate against the bare loop's, same mock, same run.
        ratio_to_bare: Math.round((result.items_per_s / bareResult.items_per_s) * 1000) / 1000,
        bare: bareResult,
      }),
    };
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } finally {
    mock.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
