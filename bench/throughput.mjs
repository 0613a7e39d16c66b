#!/usr/bin/env node
/**
 * Throughput benchmark: what agentbatch costs on top of the upstream calls it makes.
 *
 *   npm run bench                      (builds, then runs this file)
 *   BENCH_ITEMS=20000 BENCH_CONCURRENCY=64 node bench/throughput.mjs
 *   BENCH_ENGINE='{"commitBatchSize":32}' node bench/throughput.mjs   (engine settings, experiments)
 *
 * The mock LLM (dist/cli/main.js mock-llm, zero latency) runs in a child process of its own so
 * that its CPU is not counted. Each measured phase runs in a fresh child process too (this file
 * with --phase), so CPU time and peak RSS belong to that phase alone:
 *
 *   baseline              a bare loop: ITEMS chat completions to the mock with CONCURRENCY calls
 *                         in flight, undici Pool with keep-alive connections, no storage;
 *   agentbatch_mock       the service in-process (HTTP API + engine, SQLite in a temp dir,
 *                         provider `mock` = openai-compatible at the mock, engine concurrency
 *                         CONCURRENCY); ITEMS requests as batches of 1000 POSTed over HTTP, timed
 *                         from the first POST until every batch is completed (polled over HTTP);
 *   agentbatch_simulated  the same on the in-process `simulated/echo` model: orchestration only
 *                         (`BENCH_SIMULATED_LATENCY_MS=50`: the model answers after 50 ms, a
 *                         latency-bound run with no HTTP call: see bench/call-parts.mjs);
 *   agentbatch_traced     agentbatch_simulated (its model too) with OpenTelemetry tracing on, spans exported over
 *                         OTLP/HTTP to a sink in this process that counts and discards them: the
 *                         cost of tracing (off costs nothing: no SDK is loaded).
 *
 * Every phase first runs a warm-up of 1000 items (not timed; `BENCH_WARMUP=N`: N). Prints one JSON object.
 * `BENCH_GC=1` adds each agentbatch phase's garbage per item and its GC counts (see `GC` below).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { apiCaller, completedAtMs, measure, serverCpu, spawnNode, startMock } from "./lib.mjs";

const here = dirname(fileURLToPath(import.meta.url));
/** `BENCH_DB=postgres://...` runs the agentbatch phases on PostgreSQL (a fresh schema each) instead of SQLite. */
const BENCH_DB = process.env.BENCH_DB ?? "";
/** `BENCH_TRACED=0` skips the tracing phase. */
const TRACED = process.env.BENCH_TRACED !== "0";
/** `BENCH_ROOT=dir` runs the agentbatch phases on the build in `dir/dist` (a base to compare with). */
const root = resolve(process.env.BENCH_ROOT ?? resolve(here, ".."));
/**
 * `BENCH_SQLITE_STATEMENTS=1` counts the SQLite statements of the agentbatch phases by kind (off by
 * default: the wrapper's own work, its argument arrays above all, would be counted as the phase's CPU).
 */
const SQLITE_STATEMENTS = process.env.BENCH_SQLITE_STATEMENTS === "1";
/**
 * `BENCH_CPU_PROF=dir` writes a V8 CPU profile of each agentbatch phase's timed span to
 * `dir/<phase>.cpuprofile`; with `BENCH_HEAP_PROF=1` an allocation profile instead (garbage
 * included), `dir/<phase>.heapprofile`. `BENCH_CPU_PROF_INTERVAL_US=N` samples every N µs
 * (V8's default: 1,000).
 */
const CPU_PROF = process.env.BENCH_CPU_PROF ?? "";
/**
 * `BENCH_CALL_TIMES=1` records when each upstream call of the agentbatch phase leaves and when its
 * answer is in (undici's dispatch and the handler's onComplete, bench-only wrapping) and prints
 * where the timed span went: before the first call, the idle time of a slot between an answer and
 * the call that took its slot, the calls' own time, the tail, and the slots' empty time with the
 * claim buffer empty, split before the first call / mid-run / after the last start. The times are
 * this process's: a call "leaves" when undici takes it, not when its bytes do (a call dispatched
 * from inside another's onComplete looked instant here and was slower end to end:
 * bench/README.md, "Issue 17.2 at 50 ms").
 */
const CALL_TIMES = process.env.BENCH_CALL_TIMES === "1";
/**
 * `BENCH_GC=1` adds each agentbatch phase's garbage over its timed span: V8's `--trace-gc-nvp`
 * is switched on for the span only (a minor GC forced at each end, so every byte allocated in it
 * is counted once), and the orchestrator sums its lines from the phase's stdout: bytes allocated
 * (all spaces) per item, scavenges and mark-compacts with their pauses. Off by default: the forced
 * GCs are the span's own.
 */
const GC = process.env.BENCH_GC === "1";
const ITEMS = Number(process.env.BENCH_ITEMS ?? 20_000);
/** The simulated phase's model: `simulated/echo`, answering after `BENCH_SIMULATED_LATENCY_MS` when set. */
const SIMULATED_MODEL = process.env.BENCH_SIMULATED_LATENCY_MS
  ? `simulated/echo?latency_ms=${Number(process.env.BENCH_SIMULATED_LATENCY_MS)}`
  : "simulated/echo";
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
/**
 * Items each phase runs untimed first (`BENCH_WARMUP`, a whole number >= 1; unset or empty: 1,000).
 * After 1,000 V8 is still compiling the hot paths on its background threads during the timed
 * span (their CPU counts as the phase's); after 10,000 that is mostly done, with 10,000 more rows
 * in the database under the timed items (bench/README.md, "Issue 17.5, warm-up").
 */
const WARMUP = Number(process.env.BENCH_WARMUP || 1000);
if (!Number.isInteger(WARMUP) || WARMUP < 1) {
  process.stderr.write(`BENCH_WARMUP must be a whole number >= 1, not "${process.env.BENCH_WARMUP}"\n`);
  process.exit(2);
}
const PER_BATCH = 1000;
const POLL_MS = 50;

// ---------------------------------------------------------------------------------------------
// Phases (run in a child process each)

async function baseline(mockUrl) {
  const { Pool } = await import("undici");
  const base = new URL(mockUrl);
  const path = `${base.pathname.replace(/\/+$/, "")}/chat/completions`;
  const pool = new Pool(base.origin, { connections: CONCURRENCY, keepAliveTimeout: 30_000 });
  const headers = { "content-type": "application/json", accept: "application/json, text/event-stream" };
  let failures = 0;
  const runLoop = async (count, prefix) => {
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const i = next++;
        const body = JSON.stringify({
          model: "mock-model",
          messages: [{ role: "user", content: `${prefix} ${i}` }],
        });
        const res = await pool.request({ method: "POST", path, headers, body });
        const payload = JSON.parse(await res.body.text());
        if (res.statusCode !== 200 || typeof payload.choices?.[0]?.message?.content !== "string") failures++;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  };
  const calls = CALL_TIMES ? await recordCalls() : null;
  await runLoop(WARMUP, "Warm-up");
  failures = 0;
  calls?.reset();
  const stopProfile = await startCpuProfile("baseline");
  const t0 = performance.now();
  const result = await measure(ITEMS, async () => {
    await runLoop(ITEMS, "Question");
    return calls ? { call_times: calls.summary(t0, performance.now()) } : {};
  });
  await stopProfile();
  await pool.close();
  return { ...result, failed: failures };
}

/** A statement's kind as the counters report it: its first three words, at most 40 characters. */
function statementKind(sql) {
  return sql.replace(/\s+/g, " ").trim().split(" ").slice(0, 3).join(" ").slice(0, 40);
}

/**
 * Counts the statements this process sends to PostgreSQL, by kind (the first words of the SQL),
 * by wrapping pg's Client#query: bench-only instrumentation, the product carries none.
 */
async function countPgStatements() {
  const pg = (await import("pg")).default;
  const original = pg.Client.prototype.query;
  const counts = new Map();
  // A statement's kind is worked out once per text (the texts run to kilobytes, and a regex over
  // each was 1 % of the measured process's CPU), then counted.
  const kinds = new Map();
  pg.Client.prototype.query = function (config, ...rest) {
    const text = typeof config === "string" ? config : (config?.text ?? "");
    let kind = kinds.get(text);
    if (kind === undefined) {
      kind = statementKind(text);
      kinds.set(text, kind);
    }
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
    return original.call(this, config, ...rest);
  };
  return {
    reset: () => counts.clear(),
    snapshot: () => Object.fromEntries([...counts].sort((a, b) => b[1] - a[1])),
    total: () => [...counts.values()].reduce((a, b) => a + b, 0),
  };
}

/**
 * Counts the SQLite statements this process runs (better-sqlite3 `run`/`get`/`all`/`iterate`, and
 * `exec` for BEGIN/COMMIT), by wrapping the driver's prototypes: bench-only instrumentation.
 */
async function countSqliteStatements() {
  const { createRequire } = await import("node:module");
  const Database = createRequire(join(root, "package.json"))("better-sqlite3");
  const probe = new Database(":memory:");
  const statement = Object.getPrototypeOf(probe.prepare("SELECT 1"));
  probe.close();
  const counts = new Map();
  const times = new Map();
  const kinds = new WeakMap();
  for (const [proto, names] of [
    [statement, ["run", "get", "all", "iterate"]],
    [Database.prototype, ["exec"]],
  ]) {
    for (const name of names) {
      const original = proto[name];
      proto[name] = function (...args) {
        // A statement's kind is worked out once (the texts run to kilobytes), then counted.
        let kind = name === "exec" ? args[0] : kinds.get(this);
        if (kind === undefined) {
          kind = statementKind(this.source);
          kinds.set(this, kind);
        }
        counts.set(kind, (counts.get(kind) ?? 0) + 1);
        const t = performance.now();
        try {
          return original.apply(this, args);
        } finally {
          times.set(kind, (times.get(kind) ?? 0) + performance.now() - t);
        }
      };
    }
  }
  return {
    reset: () => {
      counts.clear();
      times.clear();
    },
    snapshot: () => Object.fromEntries([...counts].sort((a, b) => b[1] - a[1])),
    /** Milliseconds spent in each kind's calls (synchronous: the thread's time, waits for a busy file included). */
    times: () =>
      Object.fromEntries(
        [...times].sort((a, b) => b[1] - a[1]).map(([k, ms]) => [k, Math.round(ms * 10) / 10]),
      ),
    total: () => [...counts.values()].reduce((a, b) => a + b, 0),
  };
}

/** Wraps undici's Pool#dispatch to record each call's start and answer (performance.now()). */
async function recordCalls() {
  const { createRequire } = await import("node:module");
  const { Pool } = createRequire(join(root, "package.json"))("undici");
  const original = Pool.prototype.dispatch;
  let starts = [];
  let ends = [];
  let durations = [];
  const statuses = new Map();
  Pool.prototype.dispatch = function (opts, handler) {
    // The API calls of this bench (fetch) go through undici too: upstream calls only.
    if (opts.path.startsWith("/api/")) return original.call(this, opts, handler);
    const startedAt = performance.now();
    starts.push(startedAt);
    const headers = handler.onHeaders;
    handler.onHeaders = function (status, ...args) {
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      return headers.call(this, status, ...args);
    };
    const complete = handler.onComplete;
    handler.onComplete = function (...args) {
      const endedAt = performance.now();
      ends.push(endedAt);
      durations.push(endedAt - startedAt);
      return complete.apply(this, args);
    };
    return original.call(this, opts, handler);
  };
  const r = (x) => Math.round(x * 100) / 100;
  const pct = (a, q) => r([...a].sort((x, y) => x - y)[Math.floor(q * (a.length - 1))] ?? 0);
  // Event-loop stalls: a 1 ms timer chain; a turn that came more than 8 ms late is recorded
  // (its end time and length), to be set beside the calls' deficit.
  // Each stall also records the CPU this process used meanwhile (all its threads): a stall with
  // little CPU was the process waiting for a core (2 cores shared with the mock and the database),
  // one with as much CPU as wall was work on the loop. GC pauses are recorded beside them.
  let stalls = [];
  let gcs = [];
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  const tick = () => {
    const now = performance.now();
    const cpu = process.cpuUsage();
    if (now - last > 8) {
      const cpuMs = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
      stalls.push([now, now - last, cpuMs]);
    }
    // The engine's slots and claim buffer (when `probe` is set): the empty slots' time, split by
    // whether the buffer had an item to start (a start waiting for the loop) or was empty (a claim late).
    const held = probe.held?.();
    if (held && probe.on) {
      const free = Math.max(0, CONCURRENCY - held.running);
      const w = ((now - last) * free) / CONCURRENCY;
      if (held.buffered > 0) probe.freeWithBuffered += w;
      else probe.freeBufferEmpty += w;
      if (w > 0) probe.samples.push([now, w, held.buffered > 0]);
    }
    last = now;
    lastCpu = cpu;
    setTimeout(tick, 1).unref();
  };
  const probe = { held: null, on: false, freeWithBuffered: 0, freeBufferEmpty: 0, samples: [] };
  setTimeout(tick, 1).unref();
  const { PerformanceObserver } = await import("node:perf_hooks");
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push([e.startTime, e.duration, e.detail?.kind ?? e.kind]);
  }).observe({ entryTypes: ["gc"] });
  return {
    probe,
    reset: () => {
      starts = [];
      ends = [];
      durations = [];
      stalls = [];
      gcs = [];
      probe.on = true;
      probe.freeWithBuffered = 0;
      probe.freeBufferEmpty = 0;
      probe.samples = [];
      statuses.clear();
    },
    summary: (t0, tEnd) => {
      const c = CONCURRENCY;
      const sorted = [...ends].sort((a, b) => a - b);
      // The k-th answer's slot is taken by the (c+k)-th call.
      const idle = [];
      // Idle slot time (sum / c, ms) by 250 ms window of the span, from the answers' times.
      const windows = [];
      for (let k = 0; k + c < starts.length; k++) {
        idle.push(starts[k + c] - sorted[k]);
        const w = Math.floor((sorted[k] - t0) / 250);
        windows[w] = (windows[w] ?? 0) + (starts[k + c] - sorted[k]) / c;
      }
      const sum = (a) => a.reduce((x, y) => x + y, 0);
      /**
       * The calls' deficit: the integral of (C - calls in flight) / C over the time from the first
       * call to the last call's start (ms of wall lost with fewer than C calls out), by 100 ms
       * window, and the stretches of 5+ ms in which 8 or more slots stood empty.
       */
      const deficit = (t0, tEnd, sortedEnds) => {
        const events = [...starts.map((t) => [t, 1]), ...sortedEnds.map((t) => [t, -1])].sort(
          (a, b) => a[0] - b[0] || a[1] - b[1],
        );
        const lastStart = starts.at(-1);
        let inflight = 0;
        let prev = starts[0];
        let total = 0;
        const byWindow = [];
        const holes = [];
        let holeStart = null;
        for (const [t, d] of events) {
          if (t > lastStart) break;
          const lost = ((c - inflight) / c) * (t - prev);
          total += lost;
          const w = Math.floor((prev - t0) / 100);
          byWindow[w] = (byWindow[w] ?? 0) + lost;
          inflight += d;
          const empty = c - inflight >= 8;
          if (empty && holeStart === null) holeStart = t;
          if (!empty && holeStart !== null) {
            if (t - holeStart >= 5) holes.push([r(holeStart - t0), r(t - holeStart)]);
            holeStart = null;
          }
          prev = t;
        }
        return {
          deficit_ms: r(total),
          deficit_by_100ms: Array.from(byWindow, (x) => r(x ?? 0)),
          holes_8plus_empty: holes,
          tail_last_start_to_end_ms: r(tEnd - lastStart),
        };
      };
      return {
        calls: starts.length,
        answers: ends.length,
        statuses: Object.fromEntries(statuses),
        first_call_ms: r(starts[0] - t0),
        first_64th_call_ms: r(starts[c - 1] - t0),
        slot_idle_ms_mean: r(sum(idle) / idle.length),
        slot_idle_ms_p50: pct(idle, 0.5),
        slot_idle_ms_p90: pct(idle, 0.9),
        slot_idle_ms_p99: pct(idle, 0.99),
        slot_idle_total_over_c_ms: r(sum(idle) / c),
        // The sum of (answer - start) over the calls does not depend on which answer is whose.
        call_ms_mean: r((sum(ends) - sum(starts)) / Math.min(starts.length, ends.length)),
        call_ms_p10_p50_p90_p99: [0.1, 0.5, 0.9, 0.99].map((q) => pct(durations, q)),
        idle_by_250ms_window: Array.from(windows, (x) => r(x ?? 0)),
        last_answer_to_end_ms: r(tEnd - sorted.at(-1)),
        span_ms: r(tEnd - t0),
        ...deficit(t0, tEnd, sorted),
        loop_stalls_over_8ms: stalls.map(([at, ms, cpuMs]) => [r(at - t0), r(ms), r(cpuMs)]),
        // [stalls, their ms, the CPU ms of this process in them, ms of GC pauses inside them]
        loop_stalls_summary: (() => {
          const inStall = (g) => stalls.some(([at, ms]) => g[0] >= at - ms && g[0] <= at);
          return [
            stalls.length,
            r(sum(stalls.map((x) => x[1]))),
            r(sum(stalls.map((x) => x[2]))),
            r(sum(gcs.filter(inStall).map((g) => g[1]))),
          ];
        })(),
        // ms of C slots empty (sampled each ~1 ms tick), with items in the claim buffer / with it empty
        empty_slots_ms_buffer_had_items: r(probe.freeWithBuffered),
        empty_slots_ms_buffer_empty: r(probe.freeBufferEmpty),
        // The same with the buffer empty, over the timed span only (the probe runs on until the
        // poll sees the batches completed), split: before the first call, up to the last call's
        // start (claims late mid-run), and after it (slots draining at the end).
        empty_slots_ms_buffer_empty_by_part: (() => {
          const parts = [0, 0, 0];
          for (const [at, w, buffered] of probe.samples) {
            if (buffered || at > tEnd) continue;
            parts[at <= starts[0] ? 0 : at <= starts.at(-1) ? 1 : 2] += w;
          }
          return { before_first_call: r(parts[0]), mid_run: r(parts[1]), after_last_start: r(parts[2]) };
        })(),
        gc_pauses_list: gcs.filter((g) => g[0] >= t0).map(([at, ms, kind]) => [r(at - t0), r(ms), kind]),
        // GC pauses: count and ms, by kind (1 minor/scavenge, 2 major, 4 incremental, 8 weak callbacks)
        gc_pauses: Object.fromEntries(
          [...new Set(gcs.map((g) => g[2]))].map((k) => {
            const of = gcs.filter((g) => g[2] === k);
            return [k, [of.length, r(sum(of.map((g) => g[1])))]];
          }),
        ),
      };
    },
  };
}

/**
 * Times the engine's store calls `names` of `target` (bench-only wrapping): the part on this
 * thread before the call returns its promise (SQLite's work is all there) and the whole call.
 */
function timeStoreCalls(target, names) {
  const times = Object.fromEntries(names.map((n) => [n, { sync: [], total: [] }]));
  let spans = [];
  for (const name of names) {
    const original = target[name].bind(target);
    target[name] = (...args) => {
      const t = performance.now();
      const p = original(...args);
      times[name].sync.push(performance.now() - t);
      return Promise.resolve(p).finally(() => {
        times[name].total.push(performance.now() - t);
        spans.push([name, t, performance.now()]);
      });
    };
  }
  const r = (x) => Math.round(x * 100) / 100;
  const stats = (a) => {
    const s = [...a].sort((x, y) => x - y);
    return {
      n: s.length,
      sum: r(s.reduce((x, y) => x + y, 0)),
      p50: r(s[s.length >> 1] ?? 0),
      max: r(s.at(-1) ?? 0),
    };
  };
  return {
    reset: () => {
      for (const n of names) times[n] = { sync: [], total: [] };
      spans = [];
    },
    /** The first call's durations split by whether a call of `other` was in progress at any point of it. */
    overlap: (first, other) => {
      const others = spans.filter((x) => x[0] === other);
      const mine = spans.filter((x) => x[0] === first);
      const over = [];
      const alone = [];
      for (const [, a, b] of mine) (others.some(([, c, d]) => c < b && d > a) ? over : alone).push(b - a);
      return { [`with_${other}`]: stats(over), alone: stats(alone) };
    },
    summary: () =>
      Object.fromEntries(names.map((n) => [n, { sync: stats(times[n].sync), total: stats(times[n].total) }])),
  };
}

/** `BENCH_GC`: a minor GC now, then V8's GC trace on until the returned function (another minor GC) is called. */
async function traceGc() {
  const v8 = await import("node:v8");
  const { runInNewContext } = await import("node:vm");
  v8.setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc");
  gc({ type: "minor" });
  v8.setFlagsFromString("--trace-gc-nvp");
  return () => {
    gc({ type: "minor" });
    v8.setFlagsFromString("--no-trace-gc-nvp");
  };
}

/** The GC trace lines (`--trace-gc-nvp`) of a phase's stdout, summed per item. */
function gcSummary(out, items) {
  let allocated = 0;
  let scavenges = 0;
  let scavengeMs = 0;
  let markCompacts = 0;
  let markCompactMs = 0;
  for (const line of out.split("\n")) {
    const gc = / gc=(\w+) /.exec(line);
    if (!gc) continue;
    const field = (name) => Number(new RegExp(` ${name}=([\\d.]+)`).exec(line)?.[1] ?? 0);
    allocated += field("allocated");
    if (gc[1] === "s") {
      scavenges++;
      scavengeMs += field("pause");
    } else {
      markCompacts++;
      markCompactMs += field("pause");
    }
  }
  return {
    kb_allocated_per_item: Math.round((allocated / items / 1024) * 100) / 100,
    scavenges,
    scavenge_pause_ms: Math.round(scavengeMs),
    mark_compacts: markCompacts,
    mark_compact_pause_ms: Math.round(markCompactMs),
  };
}

/** Starts a CPU profile of this process (`BENCH_CPU_PROF`); the returned function writes it. */
async function startCpuProfile(name) {
  if (!CPU_PROF) return async () => {};
  const { Session } = await import("node:inspector/promises");
  const { writeFileSync, mkdirSync } = await import("node:fs");
  const session = new Session();
  session.connect();
  if (process.env.BENCH_HEAP_PROF) {
    // Allocation sampling instead, garbage included: where the timed span allocates.
    await session.post("HeapProfiler.enable");
    await session.post("HeapProfiler.startSampling", {
      samplingInterval: 16384,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    return async () => {
      const { profile } = await session.post("HeapProfiler.stopSampling");
      mkdirSync(CPU_PROF, { recursive: true });
      writeFileSync(join(CPU_PROF, `${name}.heapprofile`), JSON.stringify(profile));
      session.disconnect();
    };
  }
  await session.post("Profiler.enable");
  // V8's default is one sample a millisecond: too coarse for a path of tens of µs a call.
  const interval = Number(process.env.BENCH_CPU_PROF_INTERVAL_US ?? 0);
  if (interval > 0) await session.post("Profiler.setSamplingInterval", { interval });
  await session.post("Profiler.start");
  return async () => {
    const { profile } = await session.post("Profiler.stop");
    mkdirSync(CPU_PROF, { recursive: true });
    writeFileSync(join(CPU_PROF, `${name}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
  };
}

function dbUrlFor(dir) {
  if (!BENCH_DB) return `sqlite:${join(dir, "bench.db")}`;
  const url = new URL(BENCH_DB);
  url.searchParams.set("schema", `bench_${process.pid}`);
  return url.toString();
}

async function dropBenchSchema() {
  if (!BENCH_DB) return;
  const pg = (await import("pg")).default;
  const client = new pg.Client({ connectionString: BENCH_DB });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS bench_${process.pid} CASCADE`);
  await client.end();
}

async function agentbatch(mockUrl, model, traceUrl) {
  const { loadConfig } = await import(join(root, "dist/config/index.js"));
  const { createLogger, startService } = await import(join(root, "dist/service.js"));
  const { generateApiKey, registerApiKey } = await import(join(root, "dist/server/auth.js"));
  const dir = mkdtempSync(join(tmpdir(), "agentbatch-bench-"));
  const statements = BENCH_DB ? await countPgStatements() : null;
  const calls = CALL_TIMES ? await recordCalls() : null;
  const sqliteStatements = !BENCH_DB && SQLITE_STATEMENTS ? await countSqliteStatements() : null;
  const config = loadConfig({ port: 0, host: "127.0.0.1", db: dbUrlFor(dir) }, {});
  config.logLevel = "silent";
  config.engine.concurrency = CONCURRENCY;
  // For experiments only (the figures in README.md use the defaults): BENCH_ENGINE='{"commitBatchSize":32}'.
  Object.assign(config.engine, JSON.parse(process.env.BENCH_ENGINE ?? "{}"));
  config.providers.mock = { type: "openai-compatible", baseUrl: mockUrl, maxConcurrency: CONCURRENCY };
  if (traceUrl)
    config.tracing = { endpoint: traceUrl, serviceName: "bench", includeContent: false, exportDelayMs: 1000 };
  const service = await startService(config, { api: true, worker: true, logger: createLogger("silent") });
  if (calls) calls.probe.held = () => service.engine?.held;
  const storeCalls = calls ? timeStoreCalls(service.store.items, ["claim", "commit"]) : null;
  const key = generateApiKey();
  const workspace = await registerApiKey(service.store, key);
  const api = apiCaller(service.url, key);
  const agent = (await api("POST", "/agents", JSON.stringify({ name: "bench", model }))).data;
  await api("POST", `/agents/${agent.id}/publish`);
  const bodies = (count, prefix) =>
    Array.from({ length: Math.ceil(count / PER_BATCH) }, (_, b) =>
      JSON.stringify({
        agent_id: agent.id,
        requests: Array.from({ length: Math.min(PER_BATCH, count - b * PER_BATCH) }, (_, i) => ({
          custom_id: `${prefix}-${b * PER_BATCH + i}`,
          message: `${prefix} ${b * PER_BATCH + i}`,
        })),
      }),
    );
  let batchesSoFar = 0;
  const postsDone = [];
  /** POSTs the batches one after the other, then polls until all of them are completed. */
  const runBatches = async (payloads) => {
    for (const body of payloads) {
      await api("POST", "/batches", body);
      postsDone.push(performance.now());
    }
    batchesSoFar += payloads.length;
    for (;;) {
      const page = await api("GET", `/batches?status=completed&limit=${Math.min(1000, batchesSoFar)}`);
      if (page.pagination.total_records >= batchesSoFar) {
        return { finishedAt: await completedAtMs(service.store, workspace.id, page.data) };
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  };
  await runBatches(bodies(WARMUP, "Warm-up"));
  const timed = bodies(ITEMS, "Question");
  statements?.reset();
  sqliteStatements?.reset();
  const stopPgCpu = BENCH_DB ? await serverCpu("postgres") : null;
  const stopProfile = await startCpuProfile(
    traceUrl ? "agentbatch_traced" : model.startsWith("mock/") ? "agentbatch_mock" : "agentbatch_simulated",
  );
  calls?.reset();
  storeCalls?.reset();
  const gcTrace = GC ? await traceGc() : null;
  const t0 = performance.now();
  const epoch0 = Date.now();
  const result = await measure(ITEMS, async () => {
    const { finishedAt } = await runBatches(timed);
    if (calls) {
      await stopPgCpu?.();
      const posts_done_ms = postsDone.slice(-timed.length).map((t) => Math.round(t - t0));
      return {
        finishedAt,
        call_times: {
          posts_done_ms,
          ...calls.summary(t0, t0 + (finishedAt - epoch0)),
          store_calls: storeCalls.summary(),
          claims_by_commit_overlap: storeCalls.overlap("claim", "commit"),
        },
      };
    }
    if (sqliteStatements) {
      return {
        finishedAt,
        sqlite_statements_per_item: Math.round((sqliteStatements.total() / ITEMS) * 1000) / 1000,
        sqlite_statements_by_kind: sqliteStatements.snapshot(),
        sqlite_statement_ms_by_kind: sqliteStatements.times(),
      };
    }
    if (!statements) return { finishedAt };
    const total = statements.total();
    return {
      finishedAt,
      postgres_cpu_ms_per_item: Math.round(((await stopPgCpu()) / ITEMS) * 1000) / 1000,
      pg_statements_per_item: Math.round((total / ITEMS) * 100) / 100,
      pg_statements_by_kind: statements.snapshot(),
    };
  });
  gcTrace?.();
  await stopProfile();
  let succeeded = 0;
  let failed = 0;
  const list = await api("GET", "/batches?limit=1000");
  for (const b of list.data) {
    succeeded += b.completed_requests;
    failed += b.failed_requests;
  }
  await service.close(5000);
  await dropBenchSchema();
  rmSync(dir, { recursive: true, force: true });
  return { ...result, succeeded: succeeded - WARMUP, failed, batches: timed.length };
}

// ---------------------------------------------------------------------------------------------
// Orchestrator

/** An OTLP/HTTP endpoint that counts the spans' bytes and throws them away. */
async function startTraceSink() {
  const { createServer } = await import("node:http");
  let bytes = 0;
  const server = createServer((req, res) => {
    req.on("data", (c) => {
      bytes += c.length;
    });
    req.on("end", () => res.writeHead(200, { "content-type": "application/json" }).end("{}"));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}/v1/traces`,
    bytes: () => bytes,
    stop: () => server.close(),
  };
}

async function runPhase(phase, mockUrl, extra = []) {
  const { done } = spawnNode([
    fileURLToPath(import.meta.url),
    "--phase",
    phase,
    "--mock-url",
    mockUrl,
    ...extra,
  ]);
  const out = await done;
  // The JSON line is the last one this process wrote; V8's GC trace (BENCH_GC) may come after it.
  const result = JSON.parse(out.split("\n").findLast((l) => l.startsWith("{")));
  if (GC && phase !== "baseline") result.gc = gcSummary(out, ITEMS);
  return result;
}

async function main() {
  const phaseArg = process.argv.indexOf("--phase");
  if (phaseArg !== -1) {
    const phase = process.argv[phaseArg + 1];
    const mockUrl = process.argv[process.argv.indexOf("--mock-url") + 1];
    const result =
      phase === "baseline"
        ? await baseline(mockUrl)
        : phase === "agentbatch_mock"
          ? await agentbatch(mockUrl, "mock/mock-model")
          : phase === "agentbatch_traced"
            ? await agentbatch(
                mockUrl,
                SIMULATED_MODEL,
                process.argv[process.argv.indexOf("--trace-url") + 1],
              )
            : await agentbatch(mockUrl, SIMULATED_MODEL);
    process.stdout.write(`${JSON.stringify({ ...result, warmup: WARMUP })}\n`);
    return;
  }
  const mock = await startMock(0);
  try {
    const baselineResult = await runPhase("baseline", mock.url);
    const mockResult = await runPhase("agentbatch_mock", mock.url);
    const simulated = await runPhase("agentbatch_simulated", mock.url);
    let traced = null;
    if (TRACED) {
      const sink = await startTraceSink();
      traced = await runPhase("agentbatch_traced", mock.url, ["--trace-url", sink.url]);
      traced.otlp_bytes_received = sink.bytes();
      sink.stop();
    }
    const summary = {
      machine: {
        cpus: cpus().length,
        cpu_model: cpus()[0]?.model,
        node: process.version,
        platform: `${process.platform}-${process.arch}`,
        loadavg_1m: loadavg()[0],
      },
      items: ITEMS,
      warmup: WARMUP,
      concurrency: CONCURRENCY,
      database: BENCH_DB ? "postgres" : "sqlite",
      engine_overrides: JSON.parse(process.env.BENCH_ENGINE ?? "{}"),
      // The simulated and traced phases' model latency (BENCH_SIMULATED_LATENCY_MS); 0: none.
      simulated_latency_ms: Number(process.env.BENCH_SIMULATED_LATENCY_MS || 0),
      baseline: baselineResult,
      agentbatch_mock: mockResult,
      agentbatch_simulated: simulated,
      ...(traced
        ? {
            agentbatch_traced: traced,
            tracing_cost: {
              items_per_s_ratio_on_vs_off:
                Math.round((traced.items_per_s / simulated.items_per_s) * 1000) / 1000,
              cpu_ms_per_item_on: traced.cpu_ms_per_item,
              cpu_ms_per_item_off: simulated.cpu_ms_per_item,
            },
          }
        : {}),
      ratio_mock_vs_baseline: Math.round((mockResult.items_per_s / baselineResult.items_per_s) * 1000) / 1000,
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
