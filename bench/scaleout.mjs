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
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { startMockLlm } from "../dist/mock-llm/server.js";
import { dropSchema } from "../dist/store/postgres/admin.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const mainJs = join(root, "dist", "cli", "main.js");
const DATABASE_URL =
  process.env.BENCH_DATABASE_URL ??
  process.env.TEST_DATABASE_URL ??
  "postgres://postgres@127.0.0.1:5432/test";
const ITEMS = Number(process.env.BENCH_ITEMS ?? 2000);
const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 100);
const WORKER_CONCURRENCY = Number(process.env.BENCH_WORKER_CONCURRENCY ?? 8);
const WORKER_COUNTS = [1, 2, 4];
const RPM = Number(process.env.BENCH_RPM ?? 600);
const RATE_SECONDS = Number(process.env.BENCH_RATE_SECONDS ?? 90);
const PER_BATCH = 1000;
const KEY = `ab_bench_${"0".repeat(40)}`;

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
  const env = {
    ...process.env,
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
  for (let i = 0; i < workers; i++) start(["worker"]);
  // Every worker has heartbeated (and knows its share of the limits) before work arrives.
  await sleep(3000);
  const api = async (method, path, body) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { "x-api-key": KEY, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await res.json();
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json.data;
  };
  const agent = await api("POST", "/agents", { name: "bench", model: "mock/mock-model" });
  await api("POST", `/agents/${agent.id}/publish`);
  return {
    api,
    agentId: agent.id,
    db,
    async close() {
      for (const c of children) c.kill("SIGTERM");
      await Promise.all(
        children.map((c) => new Promise((r) => (c.exitCode !== null ? r() : c.on("exit", r)))),
      );
      await dropSchema(db);
    },
  };
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
  const url = new URL(db);
  const schema = url.searchParams.get("schema");
  url.searchParams.delete("schema");
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const { rows } = await client.query(
      `SELECT max(completed_at)::float8 AS t, count(completed_at)::int AS n FROM "${schema}".batches WHERE id = ANY($1)`,
      [ids],
    );
    if (rows[0].n !== ids.length) throw new Error("a batch has no completion time");
    return rows[0].t;
  } finally {
    await client.end();
  }
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
      const t0 = Date.now();
      const ids = await submit(d, items, `scale${workers}`);
      const seconds = ((await waitDone(d, ids)) - t0) / 1000;
      rows.push({ workers, items, seconds: round(seconds), items_per_s: round(items / seconds) });
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
