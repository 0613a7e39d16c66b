#!/usr/bin/env node
/**
 * How long a PostgreSQL worker waits for its share of a limited upstream at start: the time from
 * its heartbeat's start to its first permit (its first upstream call could start then); and how
 * long the first chat call of an API-only process (engine/api-share.ts) waits for its join.
 *
 *   npm run build && node bench/share-start.mjs      (BENCH_DATABASE_URL, BENCH_SHARE_RUNS=5)
 *
 *   empty   a worker alone on a fresh schema
 *   busy    a worker joining 3 live workers that hold their shares
 *   at_once 4 workers started together on a fresh schema (the slowest of the 4)
 *   api_alone    an API process's first call to a limited upstream, no worker live
 *   api_busy     the same, joining 3 live workers that hold their shares
 *
 * Heartbeats and limiters of dist/ in this process (one pool each, as separate processes have);
 * the limit is 6,000 rpm so that a bucket that starts empty grants within 40 ms at a quarter share.
 * Prints one JSON object: each case's runs in ms and their median.
 */
import pino from "pino";
import { ApiShare } from "../dist/engine/api-share.js";
import { Heartbeat } from "../dist/engine/heartbeat.js";
import { LimiterRegistry } from "../dist/providers/rate-limiter.js";
import { openStore } from "../dist/store/index.js";
import { dropSchema } from "../dist/store/postgres/admin.js";
import { median } from "./lib.mjs";

const DATABASE_URL =
  process.env.BENCH_DATABASE_URL ??
  process.env.TEST_DATABASE_URL ??
  "postgres://postgres@127.0.0.1:5432/test";
const RUNS = Number(process.env.BENCH_SHARE_RUNS ?? 5);
const logger = pino({ level: "silent" });

function schemaUrl() {
  const url = new URL(DATABASE_URL);
  url.searchParams.set("schema", `bench_share_${Math.random().toString(36).slice(2, 10)}`);
  return url.toString();
}

/** A worker: its store, heartbeat and limiters; `firstPermit` resolves with ms from start to its first permit. */
async function worker(db, id) {
  const store = await openStore(db);
  const limiters = new LimiterRegistry(() => ({ rpm: 6000 }), 100);
  const heartbeat = new Heartbeat({ store, owner: id, limiters, logger });
  const started = performance.now();
  heartbeat.start();
  const firstPermit = limiters
    .get("up")
    .acquire(1, new AbortController().signal)
    .then((permit) => {
      permit.release(null);
      return performance.now() - started;
    });
  const stop = async () => {
    await heartbeat.stop();
    limiters.close();
    await store.close();
  };
  return { firstPermit, stop };
}

async function empty() {
  const db = schemaUrl();
  await (await openStore(db)).close(); // migrations applied before the clock starts
  const w = await worker(db, "w0");
  const ms = await w.firstPermit;
  await w.stop();
  await dropSchema(db);
  return ms;
}

async function busy() {
  const db = schemaUrl();
  const others = [];
  for (let i = 0; i < 3; i++) others.push(await worker(db, `w${i}`));
  await Promise.all(others.map((o) => o.firstPermit));
  const w = await worker(db, "joiner");
  const ms = await w.firstPermit;
  for (const o of [...others, w]) await o.stop();
  await dropSchema(db);
  return ms;
}

async function atOnce() {
  const db = schemaUrl();
  await (await openStore(db)).close();
  const ws = await Promise.all([0, 1, 2, 3].map((i) => worker(db, `w${i}`)));
  const ms = Math.max(...(await Promise.all(ws.map((w) => w.firstPermit))));
  for (const w of ws) await w.stop();
  await dropSchema(db);
  return ms;
}

/** ms from an API process's first call to a limited upstream to its permit, after `others` workers hold shares. */
async function api(others) {
  const db = schemaUrl();
  await (await openStore(db)).close();
  const ws = [];
  for (let i = 0; i < others; i++) ws.push(await worker(db, `w${i}`));
  await Promise.all(ws.map((w) => w.firstPermit));
  const store = await openStore(db);
  const limiters = new LimiterRegistry(() => ({ rpm: 6000 }), 100);
  const share = new ApiShare({ store, limiters, logger });
  const started = performance.now();
  const permit = await share.get("up").acquire(1, new AbortController().signal);
  const ms = performance.now() - started;
  permit.release(null);
  await share.stop();
  limiters.close();
  await store.close();
  for (const w of ws) await w.stop();
  await dropSchema(db);
  return ms;
}

const result = { bench: "share-start", runs: RUNS };
for (const [name, fn] of [
  ["empty", empty],
  ["busy", busy],
  ["at_once", atOnce],
  ["api_alone", () => api(0)],
  ["api_busy", () => api(3)],
]) {
  const ms = [];
  for (let i = 0; i < RUNS; i++) ms.push(Math.round(await fn()));
  result[name] = { ms, median_ms: median(ms) };
}
console.log(JSON.stringify(result, null, 2));
