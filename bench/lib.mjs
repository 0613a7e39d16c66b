/**
 * Helpers the benches share: child processes, the mock LLM, and the CPU time of server
 * processes (PostgreSQL, Redis) read from /proc.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** CPU ms (user + system) process `pid` has used so far (from /proc). */
export function pidCpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10; // USER_HZ is 100 on Linux
}

/** Ticks used so far by each live process of this machine with that name (from /proc). */
export function processTicks(name) {
  const ticks = new Map();
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      if (stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")) !== name) continue;
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks.set(pid, Number(fields[11]) + Number(fields[12]));
    } catch {
      // the process ended meanwhile
    }
  }
  return ticks;
}

/**
 * CPU ms that processes named `name` use from now until the returned `stop()` resolves: sampled
 * every 100 ms per pid, so a server backend that exits meanwhile keeps what it used until its last
 * sample. The sampling runs in a child process of its own (this file with `--server-cpu`): reading
 * /proc for every process of the machine took 1–2 ms every 100 ms, which in the measured process
 * was 2 % of its event loop's time (loop stalls of the agentbatch phase on PostgreSQL at 50 ms)
 * and was counted as its CPU.
 */
export async function serverCpu(name) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "--server-cpu", name], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.setEncoding("utf8");
  const exited = new Promise((ok, fail) => {
    child.on("error", fail);
    child.on("close", (code) => (code === 0 ? ok() : fail(new Error(`server CPU sampler exited ${code}`))));
  });
  // Its first sample is taken before it says "ready": the span starts after it.
  await new Promise((ok, fail) => {
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("\n")) ok();
    });
    exited.then(() => fail(new Error("server CPU sampler ended before its first sample")), fail);
  });
  return async () => {
    child.stdin.end();
    await exited;
    return Number(out.trim().split("\n").at(-1));
  };
}

/** The sampler process of `serverCpu`: samples until its stdin ends, then prints the CPU ms used. */
function sampleServerCpu(name) {
  const first = processTicks(name);
  const last = new Map(first);
  const sample = () => {
    for (const [pid, t] of processTicks(name)) last.set(pid, t);
  };
  const timer = setInterval(sample, 100);
  process.stdin.on("end", () => {
    clearInterval(timer);
    sample();
    let ticks = 0;
    for (const [pid, t] of last) ticks += t - (first.get(pid) ?? 0);
    process.stdout.write(`${ticks * 10}\n`); // USER_HZ is 100 on Linux
  });
  process.stdin.resume();
  process.stdout.write("ready\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === "--server-cpu") {
  sampleServerCpu(process.argv[3]);
}

/** Runs node with `args` from the project root; `done` resolves with its stdout when it exits 0. */
export function spawnNode(args, { onLine, env } = {}) {
  const child = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "inherit"], env });
  let out = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (d) => {
    out += d;
    if (onLine) for (const line of out.split("\n")) onLine(line);
  });
  const done = new Promise((ok, fail) => {
    child.on("error", fail);
    child.on("close", (code) => (code === 0 ? ok(out) : fail(new Error(`${args.join(" ")} exited ${code}`))));
  });
  return { child, done };
}

/**
 * The mock LLM (dist/cli/main.js mock-llm) in a child process, answering after `latencyMs`.
 * `BENCH_MOCK_NODE_ARGS` passes node flags to it (e.g. `--cpu-prof --cpu-prof-dir=/tmp/mockprof`;
 * the profile is written when it exits, so it is stopped with SIGTERM). `BENCH_MOCK_BACKLOG` sets
 * its listen socket's accept queue (`--backlog`; unset: Node's 511). `BENCH_MOCK_JITTER_MS` spreads
 * each answer's time uniformly within ± that many ms of `latencyMs` (`--latency-jitter-ms`, at most
 * `latencyMs`: a zero-latency mock stays at 0; unset: every answer after the same time, as the
 * issue's figures are measured: bench/README.md, "Issue 17 on an AMD EPYC machine", for what a
 * fixed latency does to a client).
 */
export async function startMock(latencyMs, { nodeArgs: extraNodeArgs = [], env } = {}) {
  const nodeArgs = [...extraNodeArgs, ...(process.env.BENCH_MOCK_NODE_ARGS ?? "").split(" ").filter(Boolean)];
  const jitterMs = Math.min(Number(process.env.BENCH_MOCK_JITTER_MS || 0), latencyMs);
  let resolveUrl;
  const url = new Promise((r) => {
    resolveUrl = r;
  });
  const mock = spawnNode(
    [
      ...nodeArgs,
      join(root, "dist/cli/main.js"),
      "mock-llm",
      "--port",
      "0",
      "--latency-ms",
      String(latencyMs),
      ...(process.env.BENCH_MOCK_BACKLOG ? ["--backlog", process.env.BENCH_MOCK_BACKLOG] : []),
      ...(jitterMs > 0 ? ["--latency-jitter-ms", String(jitterMs)] : []),
    ],
    {
      env,
      onLine: (line) => {
        const m = /mock-llm listening on (\S+)/.exec(line);
        if (m) resolveUrl(m[1]);
      },
    },
  );
  mock.done.catch(() => {});
  const found = await Promise.race([
    url,
    new Promise((_, fail) => setTimeout(() => fail(new Error("the mock LLM did not start")), 15_000).unref()),
  ]).catch((err) => {
    mock.child.kill("SIGKILL");
    throw err;
  });
  return {
    url: found,
    pid: mock.child.pid,
    /** The spread the mock was started with (`BENCH_MOCK_JITTER_MS`, at most the latency); 0: none. */
    jitterMs,
    stop: () => mock.child.kill(nodeArgs.length > 0 ? "SIGTERM" : "SIGKILL"),
    /** Resolves once the mock has exited (after `stop`: with node flags, once its exit hooks ran). */
    exited: mock.done.then(
      () => {},
      () => {},
    ),
  };
}

/** The machine a bench ran on, for its JSON: cores, CPU model, Node, 1-minute load. */
export function machineInfo() {
  return {
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model,
    node: process.version,
    loadavg_1m: loadavg()[0],
  };
}

/** The median of `values` (the upper middle for an even count). */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Samples RSS every 50 ms; `stop()` returns the peak in MB. */
export function rssSampler() {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  return () => {
    clearInterval(timer);
    peak = Math.max(peak, process.memoryUsage().rss);
    return Math.round((peak / 1024 / 1024) * 10) / 10;
  };
}

/**
 * The last completion time of `batches` (wire objects with an `id`), in epoch ms, read from the
 * store of the service this process runs: the wire's `completed_at` is whole seconds (the Codeer
 * shape), and ending a run at it cut up to a second off the measured wall time.
 */
export async function completedAtMs(store, workspaceId, batches) {
  let last = 0;
  for (const b of batches) {
    const row = await store.batches.get(workspaceId, b.id);
    if (typeof row?.completedAt !== "number") throw new Error(`batch ${b.id} has no completion time`);
    last = Math.max(last, row.completedAt);
  }
  return last;
}

/**
 * CPU ms so far of each thread of this process (Linux /proc), keyed by tid and name: the main
 * (API) thread has the process's pid; the engine thread, V8's GC helpers, libuv's pool and the
 * SQLite checkpointer each their own.
 */
export function threadCpuMs() {
  const out = new Map();
  try {
    for (const tid of readdirSync("/proc/self/task")) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(tid, { name, ms: (Number(f[11]) + Number(f[12])) * 10 });
    }
  } catch {
    // not Linux
  }
  return out;
}

/** The phase's CPU per item by thread: main, the busiest other thread, and the rest. */
export function cpuByThread(before, after, items) {
  // Not Linux (no /proc): nothing to split.
  if (after.size === 0) return null;
  const per = (ms) => Math.round((ms / items) * 1000) / 1000;
  let main = 0;
  const others = [];
  for (const [tid, t] of after) {
    const used = t.ms - (before.get(tid)?.ms ?? 0);
    if (Number(tid) === process.pid) main = used;
    else others.push({ name: t.name, used });
  }
  others.sort((a, b) => b.used - a.used);
  const [top, ...rest] = others;
  if (process.env.BENCH_INFLIGHT_TRACE || process.env.BENCH_THREAD_TRACE) {
    process.stderr.write(`threads: main ${main} others ${others.map((o) => o.used).join(" ")}\n`);
  }
  return {
    main: per(main),
    busiest_other: top ? { name: top.name, ms_per_item: per(top.used) } : null,
    rest: per(rest.reduce((a, b) => a + b.used, 0)),
  };
}

/** Runs `work` and measures wall time, CPU time of this process per item and peak RSS. */
export async function measure(items, work) {
  const stopRss = rssSampler();
  const cpu0 = process.cpuUsage();
  const threads0 = threadCpuMs();
  const t0 = performance.now();
  const epoch0 = Date.now();
  const { finishedAt, ...extra } = (await work()) ?? {};
  const polledMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const threads1 = threadCpuMs();
  const cpuMs = (cpu.user + cpu.system) / 1000;
  // `finishedAt` (epoch ms): when the server stored the last result (the last batch's
  // completed_at), so the rate does not include the poll that noticed it, as the peers'
  // measurements end when their last result is stored.
  const wallMs = finishedAt ? Math.min(polledMs, Math.max(1, finishedAt - epoch0)) : polledMs;
  return {
    items,
    wall_ms: Math.round(wallMs),
    ...(finishedAt ? { polled_wall_ms: Math.round(polledMs) } : {}),
    items_per_s: Math.round((items / wallMs) * 1000),
    cpu_ms_total: Math.round(cpuMs),
    cpu_ms_per_item: Math.round((cpuMs / items) * 1000) / 1000,
    // The kernel's part (syscalls: socket writes and reads, SQLite's file I/O).
    cpu_sys_ms_per_item: Math.round((cpu.system / 1000 / items) * 1000) / 1000,
    // Linux: the main thread, the busiest other (the engine thread, a GC helper, the WAL
    // checkpointer) and the rest, from /proc's 10 ms ticks.
    cpu_ms_per_item_by_thread: cpuByThread(threads0, threads1, items),
    peak_rss_mb: stopRss(),
    ...extra,
  };
}

/** Calls the Codeer API of a started service with `key`; a body is sent as JSON (objects are stringified). */
export function apiCaller(serviceUrl, key) {
  return async (method, path, body) => {
    const res = await fetch(`${serviceUrl}/api/v1${path}`, {
      method,
      headers: { "x-api-key": key, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined || typeof body === "string" ? body : JSON.stringify(body),
    });
    const json = await res.json();
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
}
