#!/usr/bin/env node
/**
 * Peers benchmark: agentbatch on SQLite and on PostgreSQL beside graphile-worker (PostgreSQL) and
 * BullMQ (Redis), each running the same work on the same upstream: N chat completions against
 * the mock LLM with C calls in flight, every answer stored (agentbatch: its results; graphile-
 * worker: a row per answer in a table; BullMQ: the job's return value in Redis).
 *
 *   npm run build && node bench/peers.mjs
 *   BENCH_ITEMS=5000 BENCH_CONCURRENCY=64 BENCH_LATENCIES=0,50 node bench/peers.mjs
 *   BENCH_SYSTEMS=agentbatch_postgres,graphile_worker node bench/peers.mjs
 *
 * Needs PostgreSQL (BENCH_DB, default postgres://postgres@127.0.0.1:5432/test; each run uses a
 * fresh schema) and Redis (BENCH_REDIS, default 127.0.0.1:6379; a fresh key prefix). Each system
 * runs in a child process of its own, timed from the first enqueue until the last answer is
 * stored; CPU per item is that process's, and the database server's CPU per item (postgres or
 * redis-server processes, read from /proc) is reported beside it. Ideal at a latency L is C/L.
 * `bare` (always run first, unless BENCH_BARE=0) is the practical ceiling: an undici loop with C calls in flight against the
 * same mock, no storage (bench/throughput.mjs's baseline); each system's `ratio_to_bare` is beside
 * its `ratio_to_ideal`.
 * Prints one JSON object.
 */
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { root, serverCpu, spawnNode, startMock } from "./lib.mjs";

const ITEMS = Number(process.env.BENCH_ITEMS ?? 5000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const LATENCIES = (process.env.BENCH_LATENCIES ?? "0,50").split(",").map(Number);
const DB = process.env.BENCH_DB ?? "postgres://postgres@127.0.0.1:5432/test";
const REDIS = process.env.BENCH_REDIS ?? "127.0.0.1:6379";
const SYSTEMS = (
  process.env.BENCH_SYSTEMS ?? "agentbatch_sqlite,agentbatch_postgres,graphile_worker,bullmq"
).split(",");
// The bare loop runs first in every run unless BENCH_BARE=0 (or BENCH_SYSTEMS names it itself).
if (process.env.BENCH_BARE !== "0" && !SYSTEMS.includes("bare")) SYSTEMS.unshift("bare");
const ENQUEUE_CHUNK = 1000;

/** Times `work` (which resolves once every item is stored): wall, items/s, CPU of this process and of `server`. */
async function measure(server, work) {
  // The server's sampler first: starting it (a child process) is not the measured system's CPU.
  const stopServer = server ? await serverCpu(server) : null;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await work();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const serverMs = stopServer ? await stopServer() : 0;
  return {
    items: ITEMS,
    wall_ms: Math.round(wallMs),
    items_per_s: Math.round((ITEMS / wallMs) * 1000),
    cpu_ms_per_item: Math.round(((cpu.user + cpu.system) / 1000 / ITEMS) * 1000) / 1000,
    ...(server
      ? {
          [`${server.replace("-", "_")}_cpu_ms_per_item`]: Math.round((serverMs / ITEMS) * 1000) / 1000,
        }
      : {}),
  };
}

/** One chat completion to the mock, the way every peer makes it (undici Pool, keep-alive). */
async function caller(mockUrl) {
  const { Pool } = await import("undici");
  const base = new URL(mockUrl);
  const path = `${base.pathname.replace(/\/+$/, "")}/chat/completions`;
  const pool = new Pool(base.origin, { connections: CONCURRENCY, keepAliveTimeout: 30_000 });
  const headers = { "content-type": "application/json" };
  const call = async (message) => {
    const res = await pool.request({
      method: "POST",
      path,
      headers,
      body: JSON.stringify({ model: "mock-model", messages: [{ role: "user", content: message }] }),
    });
    const payload = JSON.parse(await res.body.text());
    if (res.statusCode !== 200) throw new Error(`mock answered ${res.statusCode}`);
    return payload.choices[0].message.content;
  };
  return { call, close: () => pool.close() };
}

async function graphileWorker(mockUrl) {
  const { run, makeWorkerUtils } = await import("graphile-worker");
  const pg = (await import("pg")).default;
  const schema = `gw_bench_${process.pid}`;
  const admin = new pg.Pool({ connectionString: DB, max: 4 });
  await admin.query(
    `CREATE TABLE IF NOT EXISTS gw_bench_results_${process.pid} (id text PRIMARY KEY, answer text)`,
  );
  const upstream = await caller(mockUrl);
  let stored = 0;
  let allStored;
  const done = new Promise((r) => {
    allStored = r;
  });
  const runner = await run({
    connectionString: DB,
    schema,
    concurrency: CONCURRENCY,
    noHandleSignals: true,
    pollInterval: 1000,
    logger: new (await import("graphile-worker")).Logger(() => () => {}),
    taskList: {
      call: async (payload) => {
        const answer = await upstream.call(payload.message);
        await admin.query(`INSERT INTO gw_bench_results_${process.pid} (id, answer) VALUES ($1, $2)`, [
          payload.id,
          answer,
        ]);
        if (++stored === ITEMS) allStored();
      },
    },
  });
  const utils = await makeWorkerUtils({ connectionString: DB, schema });
  const result = await measure("postgres", async () => {
    for (let i = 0; i < ITEMS; i += ENQUEUE_CHUNK) {
      const jobs = Array.from({ length: Math.min(ENQUEUE_CHUNK, ITEMS - i) }, (_, k) => ({
        identifier: "call",
        payload: { id: `r-${i + k}`, message: `Question ${i + k}` },
      }));
      await utils.addJobs(jobs);
    }
    await done;
  });
  await runner.stop();
  await utils.release();
  await admin.query(`DROP TABLE gw_bench_results_${process.pid}`);
  await admin.query(`DROP SCHEMA ${schema} CASCADE`);
  await admin.end();
  await upstream.close();
  return result;
}

async function bullmq(mockUrl) {
  const { Queue, Worker } = await import("bullmq");
  const { Redis } = await import("ioredis");
  const [host, port] = REDIS.split(":");
  // BullMQ needs a constructed client when loaded as ESM; workers block, so they need their own.
  const client = () => new Redis({ host, port: Number(port), maxRetriesPerRequest: null });
  const connection = client();
  const prefix = `bullbench${process.pid}`;
  const upstream = await caller(mockUrl);
  const queue = new Queue("calls", { connection, prefix });
  let stored = 0;
  let allStored;
  const done = new Promise((r) => {
    allStored = r;
  });
  const worker = new Worker("calls", async (job) => upstream.call(job.data.message), {
    connection: client(),
    prefix,
    concurrency: CONCURRENCY,
  });
  worker.on("completed", () => {
    if (++stored === ITEMS) allStored();
  });
  await worker.waitUntilReady();
  const result = await measure("redis-server", async () => {
    for (let i = 0; i < ITEMS; i += ENQUEUE_CHUNK) {
      const jobs = Array.from({ length: Math.min(ENQUEUE_CHUNK, ITEMS - i) }, (_, k) => ({
        name: "call",
        data: { message: `Question ${i + k}` },
      }));
      await queue.addBulk(jobs);
    }
    await done;
  });
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  connection.disconnect();
  await upstream.close();
  return result;
}

/**
 * The environment of a bench/throughput.mjs phase run here: this run's items and slots, and
 * throughput.mjs's own warm-up (an empty BENCH_WARMUP), as graphile-worker's and BullMQ's runs
 * here keep theirs whatever the shell sets.
 */
function throughputEnv() {
  return {
    ...process.env,
    BENCH_ITEMS: String(ITEMS),
    BENCH_CONCURRENCY: String(CONCURRENCY),
    BENCH_WARMUP: "",
  };
}

/** agentbatch through bench/throughput.mjs's own phase (HTTP API + engine in one process). */
async function agentbatchPhase(mockUrl, db) {
  const out = await spawnNode(
    [join(root, "bench/throughput.mjs"), "--phase", "agentbatch_mock", "--mock-url", mockUrl],
    {
      env: { ...throughputEnv(), BENCH_DB: db === "postgres" ? DB : "" },
    },
  ).done;
  const r = JSON.parse(out.trim().split("\n").at(-1));
  const keep = [
    "items",
    "wall_ms",
    "items_per_s",
    "cpu_ms_per_item",
    "postgres_cpu_ms_per_item",
    "pg_statements_per_item",
  ];
  return Object.fromEntries(keep.filter((k) => r[k] !== undefined).map((k) => [k, r[k]]));
}

/**
 * The practical ceiling: bench/throughput.mjs's bare loop (an undici Pool with C calls in flight
 * against the same mock, no storage, no queue), timed over the same items.
 */
async function bare(mockUrl) {
  const out = await spawnNode(
    [join(root, "bench/throughput.mjs"), "--phase", "baseline", "--mock-url", mockUrl],
    { env: throughputEnv() },
  ).done;
  const r = JSON.parse(out.trim().split("\n").at(-1));
  return {
    items: r.items,
    wall_ms: r.wall_ms,
    items_per_s: r.items_per_s,
    cpu_ms_per_item: r.cpu_ms_per_item,
  };
}

async function runSystem(system, mockUrl) {
  if (system === "bare") return bare(mockUrl);
  if (system === "agentbatch_sqlite") return agentbatchPhase(mockUrl, "sqlite");
  if (system === "agentbatch_postgres") return agentbatchPhase(mockUrl, "postgres");
  const out = await spawnNode([fileURLToPath(import.meta.url), "--phase", system, mockUrl]).done;
  return JSON.parse(out.trim().split("\n").at(-1));
}

async function main() {
  if (process.argv[2] === "--phase") {
    const [system, mockUrl] = process.argv.slice(3);
    const result = system === "graphile_worker" ? await graphileWorker(mockUrl) : await bullmq(mockUrl);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  }
  const runs = {};
  for (const latency of LATENCIES) {
    const mock = await startMock(latency);
    try {
      const row = {};
      for (const system of SYSTEMS) row[system] = await runSystem(system, mock.url);
      const ideal = latency > 0 ? (CONCURRENCY / latency) * 1000 : null;
      if (ideal)
        for (const r of Object.values(row))
          r.ratio_to_ideal = Math.round((r.items_per_s / ideal) * 1000) / 1000;
      // Beside the ideal, the ratio to the bare loop's rate on the same mock in the same run.
      if (row.bare)
        for (const [name, r] of Object.entries(row))
          if (name !== "bare")
            r.ratio_to_bare = Math.round((r.items_per_s / row.bare.items_per_s) * 1000) / 1000;
      // mock_jitter_ms: each answer's time spread by ± this around the latency (0: fixed).
      runs[`latency_${latency}ms`] = {
        ideal_items_per_s: ideal && Math.round(ideal),
        mock_jitter_ms: mock.jitterMs,
        ...row,
      };
    } finally {
      mock.stop();
    }
  }
  const pgVsGraphile = Object.fromEntries(
    Object.entries(runs)
      .filter(([, r]) => r.agentbatch_postgres && r.graphile_worker)
      .map(([k, r]) => [
        k,
        Math.round((r.agentbatch_postgres.items_per_s / r.graphile_worker.items_per_s) * 100) / 100,
      ]),
  );
  const summary = {
    machine: { cpus: cpus().length, node: process.version, loadavg_1m: loadavg()[0] },
    items: ITEMS,
    concurrency: CONCURRENCY,
    runs,
    agentbatch_postgres_vs_graphile_worker: pgVsGraphile,
  };
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
