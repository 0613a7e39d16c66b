#!/usr/bin/env node
/**
 * Scale-out benchmark on PostgreSQL: does adding worker processes add throughput, and do the
 * per-upstream limits hold for all workers together?
 *
 *   npm run bench:scaleout                      (builds, then runs this file)
 *   BENCH_DATABASE_URL=postgres://... BENCH_ITEMS=2000 node bench/scaleout.mjs
 *
 * The mock upstream (dist/mock-llm, 100 ms latency) runs in this process; the API
 * (`serve --no-worker`) and the workers (`worker`) are child processes of the built CLI on a
 * fresh schema each run.
 *
 *   scaling      ITEMS requests per worker (batches of 1000) with 1, 2 and 4 workers, each capped at
 *                WORKER_CONCURRENCY items at once (AGENTBATCH_CONCURRENCY); timed from the
 *                first POST until every batch is completed. Prints items/s and the ratio to
 *                one worker.
 *   shared_rpm   the mock refuses more than RPM requests a minute (429), and the provider is
 *                configured with the same rpm; 4 workers run for RATE_SECONDS. Prints the
 *                requests sent and refused (the mock's verdict: no 429 means the limit was
 *                never exceeded) and the most sent in any 60 s window (both buckets start
 *                full, so a window may hold the limit's burst plus its refill, 2 × rpm).
 *
 * Prints one JSON object.
 */
import { spawn } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { startMockLlm } from "../dist/mock-llm/server.js";
import { dropSchema } from "../dist/store/postgres/admin.js";

// BENCH_ROOT=dir runs the API and the workers of another build (dir/dist), with this file's bench.
const root = process.env.BENCH_ROOT
  ? resolve(process.env.BENCH_ROOT)
  : resolve(dirname(fileURLToPath(import.meta.url)), "..");
const mainJs = join(root, "dist", "cli", "main.js");
const DATABASE_URL =
  process.env.BENCH_DATABASE_URL ??
  process.env.TEST_DATABASE_URL ??
  "postgres://postgres@127.0.0.1:5432/test";
const ITEMS = Number(process.env.BENCH_ITEMS ?? 2000);
const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 100);
const WORKER_CONCURRENCY = Number(process.env.BENCH_WORKER_CONCURRENCY ?? 8);
const WORKER_COUNTS = (process.env.BENCH_WORKER_COUNTS ?? "1,2,4").split(",").map(Number);
const RPM = Number(process.env.BENCH_RPM ?? 600);
const RATE_SECONDS = Number(process.env.BENCH_RATE_SECONDS ?? 90);
const PER_BATCH = 1000;
const KEY = `ab_bench_${"0".repeat(40)}`;
/** `BENCH_TRACE=1`: the workers trace their engines (`AGENTBATCH_ENGINE_TRACE`), and each scaling row gets `trace`. */
const TRACE = process.env.BENCH_TRACE === "1";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function schemaUrl() {
  const url = new URL(DATABASE_URL);
  url.searchParams.set("schema", `bench_${Math.random().toString(36).slice(2, 10)}`);
  return url.toString();
}

/** One agentbatch deployment: an API process and `workers` worker processes on a fresh schema. */
async function deploy({ workers, provider, dir }) {
  const db = schemaUrl();
  const configFile = join(dir, `config-${workers}.json`);
  writeFileSync(configFile, JSON.stringify({ providers: { mock: provider } }));
  // Below Linux's ephemeral range (32768-60999): a port picked inside it could be taken by any
  // outgoing connection meanwhile (seen: EADDRINUSE while another bench held 10,000 connections).
  const port = 20_000 + Math.floor(Math.random() * 12_000);
  const traceDir = TRACE ? join(dir, `trace-${workers}`) : undefined;
  if (traceDir) mkdirSync(traceDir, { recursive: true });
  const env = {
    ...process.env,
    ...(traceDir ? { AGENTBATCH_ENGINE_TRACE: traceDir } : {}),
    AGENTBATCH_API_KEY: KEY,
    AGENTBATCH_CONCURRENCY: String(WORKER_CONCURRENCY),
    AGENTBATCH_LOG_LEVEL: "warn",
    AGENTBATCH_DATA_DIR: dir,
  };
  const children = [];
  const start = (args) => {
    const child = spawn(process.execPath, [mainJs, ...args, "--db", db, "--config", configFile], {
      env,
      stdio: ["ignore", "ignore", "inherit"],
    });
    children.push(child);
    return child;
  };
  start(["serve", "--no-worker", "--port", String(port)]);
  const base = `http://127.0.0.1:${port}/api/v1`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break;
    } catch {
      if (i > 300) throw new Error("the API did not start");
    }
    await sleep(50);
  }
  const api = children[0];
  const workerProcs = [];
  const spawnedAt = Date.now();
  for (let i = 0; i < workers; i++) workerProcs.push(start(["worker"]));
  // Every worker has heartbeated (and knows its share of the limits) before work arrives: at
  // least 3 s, and until each one's row is in `workers`. A fixed 3 s was too short once the
  // machine was busy: 4 workers booting at once took 8-19 s at load 13-16 (the boot is module
  // loading, CPU-bound), and the run's clock, started at the first POST, timed their boot as
  // if it were throughput (bench/README.md, "Issue 17.6").
  const workersUpMs = await heartbeated(db, workers, spawnedAt);
  await sleep(Math.max(0, 3000 - (Date.now() - spawnedAt)));
  const call = async (method, path, body) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { "x-api-key": KEY, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await res.json();
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json.data;
  };
  let closed = false;
  const agent = await call("POST", "/agents", { name: "bench", model: "mock/mock-model" });
  await call("POST", `/agents/${agent.id}/publish`);
  return {
    api: call,
    apiPid: api.pid,
    workersUpMs,
    workerPids: workerProcs.map((c) => c.pid),
    traceDir,
    agentId: agent.id,
    db,
    async close() {
      if (closed) return;
      closed = true;
      for (const c of children) c.kill("SIGTERM");
      await Promise.all(
        children.map((c) => new Promise((r) => (c.exitCode !== null ? r() : c.on("exit", r)))),
      );
      await dropSchema(db);
    },
  };
}

/** Runs `fn(client, schema)` on a connection of its own to the deployment's database (`db` names its schema). */
async function withSchemaClient(db, fn) {
  const url = new URL(db);
  const schema = url.searchParams.get("schema");
  url.searchParams.delete("schema");
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return await fn(client, schema);
  } finally {
    await client.end();
  }
}

/** Waits (at most 120 s) until `count` workers have a heartbeat row; resolves to the ms since `since`. */
async function heartbeated(db, count, since) {
  return withSchemaClient(db, async (client, schema) => {
    for (;;) {
      const { rows } = await client
        .query(`SELECT count(*)::int AS n FROM "${schema}".workers`)
        .catch(() => ({ rows: [{ n: 0 }] }));
      if (rows[0].n >= count) return Date.now() - since;
      if (Date.now() - since > 120_000)
        throw new Error(`${rows[0].n} of ${count} workers heartbeated in 120 s`);
      await sleep(50);
    }
  });
}

async function submit(d, items, tag) {
  const ids = [];
  for (let start = 0; start < items; start += PER_BATCH) {
    const requests = Array.from({ length: Math.min(PER_BATCH, items - start) }, (_, i) => ({
      custom_id: `r${start + i}`,
      message: `${tag} ${start + i}`,
    }));
    ids.push((await d.api("POST", "/batches", { agent_id: d.agentId, requests })).id);
  }
  return ids;
}

/**
 * Polls until every batch is completed; resolves to the last one's completion (epoch ms), read
 * from the database: the wire's `completed_at` is whole seconds, which cut up to a second off a run.
 */
async function waitDone(d, ids) {
  for (;;) {
    const batches = [];
    for (const id of ids) batches.push(await d.api("GET", `/batches/${id}`));
    if (batches.every((b) => b.status === "completed")) return completedAtMs(d.db, ids);
    await sleep(50);
  }
}

async function completedAtMs(db, ids) {
  return withSchemaClient(db, async (client, schema) => {
    const { rows } = await client.query(
      `SELECT max(completed_at)::float8 AS t, count(completed_at)::int AS n FROM "${schema}".batches WHERE id = ANY($1)`,
      [ids],
    );
    if (rows[0].n !== ids.length) throw new Error("a batch has no completion time");
    return rows[0].t;
  });
}

async function scaling(mockUrl, dir) {
  const rows = [];
  for (const workers of WORKER_COUNTS) {
    const d = await deploy({
      workers,
      dir,
      provider: { type: "openai-compatible", base_url: mockUrl, api_key: "bench" },
    });
    try {
      // Each run gets ITEMS per worker, so every run lasts about as long and the fixed start-up
      // (first POST to first claim) weighs the same; it ends at the last batch's completed_at,
      // not at the poll that saw it.
      const items = ITEMS * workers;
      const sampler = TRACE ? await startSampler(d) : null;
      const t0 = Date.now();
      const ids = await submit(d, items, `scale${workers}`);
      const end = await waitDone(d, ids);
      const seconds = (end - t0) / 1000;
      const sampled = sampler ? await sampler.stop() : null;
      rows.push({
        workers,
        items,
        seconds: round(seconds),
        items_per_s: round(items / seconds),
        workers_up_s: round(d.workersUpMs / 1000),
      });
      if (TRACE) {
        await d.close();
        rows.at(-1).trace = { ...analyse(d, t0, end), ...sampled };
        // BENCH_TRACE_KEEP=dir keeps the raw traces (dir/<workers>/<pid>.jsonl, times in epoch ms).
        if (process.env.BENCH_TRACE_KEEP) {
          const keep = join(process.env.BENCH_TRACE_KEEP, String(workers));
          mkdirSync(keep, { recursive: true });
          for (const f of readdirSync(d.traceDir))
            writeFileSync(join(keep, f), readFileSync(join(d.traceDir, f)));
          writeFileSync(
            join(keep, "run.json"),
            JSON.stringify({ t0, end, workerPids: d.workerPids, apiPid: d.apiPid }),
          );
        }
      }
    } finally {
      await d.close();
    }
  }
  const one = rows[0].items_per_s;
  for (const r of rows) r.ratio_to_1 = round(r.items_per_s / one);
  return rows;
}

async function sharedRpm(dir) {
  const mock = await startMockLlm({ latencyMs: LATENCY_MS, rpm: RPM });
  const d = await deploy({
    workers: 4,
    dir,
    provider: { type: "openai-compatible", base_url: mock.url, api_key: "bench", rpm: RPM },
  });
  try {
    const t0 = Date.now();
    // More work than the limit lets through in RATE_SECONDS.
    await submit(d, Math.ceil((RPM * (RATE_SECONDS + 60)) / 60), "rate");
    while (Date.now() - t0 < RATE_SECONDS * 1000) await sleep(500);
    const end = Date.now();
    const log = mock.log.filter((e) => e.at >= t0);
    const sent = log.map((e) => e.at);
    const refused = log.filter((e) => e.status === 429);
    let maxWindow = 0;
    for (let i = 0, j = 0; i < sent.length; i++) {
      while (sent[i] - sent[j] >= 60_000) j++;
      maxWindow = Math.max(maxWindow, i - j + 1);
    }
    // The mock refuses, with the same token-bucket definition as OpenAI's, anything over the
    // limit: no 429 means the workers together never went over it. Both buckets start full, so
    // a 60 s window may hold the burst plus the refill (2 × rpm), never more.
    const last30 = sent.filter((at) => at >= end - 30_000).length * 2;
    return {
      workers: 4,
      rpm_limit: RPM,
      seconds: RATE_SECONDS,
      requests_sent: sent.length,
      refused_429: refused.length,
      refused_at_s: refused.map((e) => round((e.at - t0) / 1000)),
      max_sent_in_any_60s_window: maxWindow,
      allowed_in_first_60s_by_bucket: 2 * RPM,
      rpm_in_last_30s: last30,
      held: refused.length === 0 && maxWindow <= 2 * RPM,
    };
  } finally {
    await d.close();
    await mock.close();
  }
}

/** CPU seconds (user + system) of a process so far, 0 once it is gone. */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/** Local TCP port -> role ("api", "w0".."w3") of the deployment's processes' sockets. */
function portRoles(d) {
  const inodeRole = new Map();
  const pids = [["api", d.apiPid], ...d.workerPids.map((p, i) => [`w${i}`, p])];
  for (const [role, pid] of pids) {
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        try {
          const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
          if (m) inodeRole.set(m[1], role);
        } catch {}
      }
    } catch {}
  }
  const roles = new Map();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const role = inodeRole.get(f[9]);
      if (role) roles.set(Number.parseInt(f[1].split(":")[1], 16), role);
    }
  }
  return roles;
}

/**
 * Samples pg_stat_activity every 50 ms while a scaling run lasts: per role (api, w0…), how often
 * one of its sessions was active and on what it waited ("cpu": no wait event), and the CPU of
 * the processes and of their PostgreSQL backends over the run.
 */
async function startSampler(d) {
  const url = new URL(d.db);
  url.searchParams.delete("schema");
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  const roles = { at: 0, map: new Map() };
  const waits = {};
  const backends = new Map();
  let samples = 0;
  let running = true;
  const procs = [["api", d.apiPid], ...d.workerPids.map((p, i) => [`w${i}`, p])];
  const cpu0 = new Map(procs.map(([r, p]) => [r, cpuSeconds(p)]));
  const loop = (async () => {
    while (running) {
      if (Date.now() - roles.at > 500) roles.map = portRoles(d);
      roles.at = Date.now();
      const { rows } = await client.query(
        "SELECT pid, client_port, state, wait_event_type, wait_event FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND client_port IS NOT NULL",
      );
      samples++;
      for (const r of rows) {
        const role = roles.map.get(r.client_port);
        if (!role) continue;
        if (!backends.has(r.pid)) backends.set(r.pid, { role, cpu0: cpuSeconds(r.pid), cpu: 0 });
        backends.get(r.pid).cpu = cpuSeconds(r.pid) || backends.get(r.pid).cpu;
        if (r.state !== "active") continue;
        const key = r.wait_event ? `${r.wait_event_type}:${r.wait_event}` : "cpu";
        waits[role] ??= {};
        waits[role][key] = (waits[role][key] ?? 0) + 1;
      }
      await sleep(50);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      await client.end();
      const cpu = {};
      for (const [r, p] of procs) cpu[r] = round(cpuSeconds(p) - cpu0.get(r));
      const pgCpu = {};
      for (const b of backends.values()) pgCpu[b.role] = round((pgCpu[b.role] ?? 0) + b.cpu - b.cpu0);
      return { pg_samples: samples, pg_active: waits, cpu_s: cpu, pg_backend_cpu_s: pgCpu };
    },
  };
}

function stats(xs) {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => round(s[Math.min(s.length - 1, Math.floor(p * s.length))]);
  return {
    n: s.length,
    mean: round(s.reduce((a, b) => a + b, 0) / s.length),
    p50: q(0.5),
    p90: q(0.9),
    max: q(1),
  };
}

/** Per worker, from its engine trace: items, start-up, tail, idle slots, claim and commit times, wakeups. */
function analyse(d, t0, end) {
  const out = [];
  for (const [i, pid] of d.workerPids.entries()) {
    let lines = [];
    try {
      lines = readFileSync(join(d.traceDir, `${pid}.jsonl`), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
    } catch {
      out.push({ worker: i, trace: "missing" });
      continue;
    }
    const ev = lines.filter((e) => e[0] >= t0 - 1 && e[0] <= end + 1);
    const of = (k) => ev.filter((e) => e[1] === k);
    const starts = of("start");
    const answers = of("ans");
    const claims = of("claim");
    const firstClaim = claims.find((e) => e[4] > 0);
    const first = starts[0]?.[0];
    const last = answers.at(-1)?.[0];
    // Idle slots: WORKER_CONCURRENCY minus the running count after each start/answer, over time,
    // from the first start to the last answer; split by whether the buffer was empty.
    let idle = 0;
    let idleEmpty = 0;
    let prev = null;
    const gaps = [];
    const answeredAt = [];
    const callMs = [];
    const startedAt = new Map();
    for (const e of ev) {
      if (e[1] !== "start" && e[1] !== "ans") continue;
      if (prev) {
        const dt = e[0] - prev[0];
        idle += (WORKER_CONCURRENCY - prev[2]) * dt;
        if (prev[3] === 0) idleEmpty += (WORKER_CONCURRENCY - prev[2]) * dt;
      }
      prev = e;
      if (e[1] === "ans") {
        answeredAt.push(e[0]);
        const s = startedAt.get(e[4]);
        if (s !== undefined) callMs.push(e[0] - s);
      } else {
        startedAt.set(e[4], e[0]);
        const a = answeredAt.shift();
        if (a !== undefined) gaps.push(e[0] - a);
      }
    }
    const span = (last ?? 0) - (first ?? 0);
    out.push({
      worker: i,
      done: answers.length,
      first_claim_ms: firstClaim ? round(firstClaim[0] - t0) : null,
      first_claim_rtt_ms: firstClaim ? round(firstClaim[0] - firstClaim[2]) : null,
      first_start_ms: first ? round(first - t0) : null,
      last_answer_to_end_ms: last ? round(end - last) : null,
      buffered_at_last_claim: claims.at(-1)?.[6],
      span_s: round(span / 1000),
      items_per_s_in_span: round(answers.length / (span / 1000)),
      idle_slot_share: round(idle / (WORKER_CONCURRENCY * span)),
      idle_with_empty_buffer_share: round(idleEmpty / (WORKER_CONCURRENCY * span)),
      answer_to_next_start_ms: stats(gaps),
      call_ms: stats(callMs),
      claim_ms: stats(claims.map((e) => e[0] - e[2])),
      claims_empty: claims.filter((e) => e[4] === 0).length,
      commit_ms: stats(of("commit").map((e) => e[0] - e[2])),
      renews: of("renew").length,
      beats_per_s: round(of("beat").length / ((end - t0) / 1000)),
      notify_sent_per_s: round(of("pub").length / ((end - t0) / 1000)),
      notify_received_per_s: round(of("recv").length / ((end - t0) / 1000)),
      work_wakeups_per_s: round(of("work").length / ((end - t0) / 1000)),
    });
  }
  return { workers: out };
}

function round(x) {
  return Math.round(x * 100) / 100;
}

const dir = mkdtempSync(join(tmpdir(), "agentbatch-scaleout-"));
const mock = await startMockLlm({ latencyMs: LATENCY_MS });
try {
  const only = process.env.BENCH_ONLY;
  const scale = only === "rate" ? [] : await scaling(mock.url, dir);
  await mock.close();
  const rate = only === "scaling" ? null : await sharedRpm(dir);
  process.stdout.write(
    `${JSON.stringify(
      {
        bench: "scaleout",
        machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
        upstream_latency_ms: LATENCY_MS,
        worker_concurrency: WORKER_CONCURRENCY,
        scaling: scale,
        shared_rpm: rate,
      },
      null,
      2,
    )}\n`,
  );
} finally {
  await mock.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}
