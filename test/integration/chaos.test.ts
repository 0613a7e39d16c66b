/**
 * The chaos test, on the store of this run (vitest.config.ts runs it once per store), against
 * the built CLI and `agentbatch mock-llm` (20 ms latency, 5% injected 500s):
 * - PostgreSQL: 1 API process (`serve --no-worker`) and 3 `worker` processes on one fresh
 *   schema; a random worker is SIGKILLed every 1–2 s and each time another sixth of the items is
 *   done, and a replacement started.
 * - SQLite: one `serve` process, SIGKILLed on the same schedule and restarted on the same file.
 * 5,000 requests (5 batches of 1,000). Afterwards every custom_id has exactly one final result,
 * the counters equal the results, and no item the mock answered more than once was stored twice.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { generateApiKey } from "../../src/server/auth.js";
import { dropSchema } from "../../src/store/postgres/admin.js";
import {
  type CliProcess,
  callApi,
  freePort,
  isRunning,
  killHard,
  startCli,
  startMockProcess,
  waitForHttp,
  writeMockConfig,
} from "../helpers/processes.js";
import { freshPostgresUrl, testStore } from "../helpers/server.js";

const BATCHES = 5;
const PER_BATCH = 1000;
const WORKERS = 3;

const dir = mkdtempSync(join(tmpdir(), "agentbatch-chaos-"));
const procs: CliProcess[] = [];
const db = testStore === "postgres" ? freshPostgresUrl() : `sqlite:${join(dir, "db.sqlite")}`;

afterAll(async () => {
  for (const p of procs) await killHard(p);
  if (testStore === "postgres") await dropSchema(db);
  rmSync(dir, { recursive: true, force: true });
});

const random = (min: number, max: number) => min + Math.random() * (max - min);

it(`${testStore}: 5,000 requests survive SIGKILLs with exactly one result each`, async () => {
  const started = Date.now();
  const log = join(dir, "mock.jsonl");
  const mock = await startMockProcess({ latencyMs: 20, errorRate: 0.05, log });
  procs.push(mock.proc);
  const configFile = writeMockConfig(dir, mock.url);
  const key = generateApiKey();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = {
    AGENTBATCH_API_KEY: key,
    AGENTBATCH_LEASE_MS: "2000",
    AGENTBATCH_CONCURRENCY: "64",
    AGENTBATCH_MAX_ATTEMPTS: "12",
    // A kill every 1-2 s interrupts the same items again and again: they may be interrupted as
    // often as they may fail upstream before they are quarantined.
    AGENTBATCH_QUARANTINE_AFTER: "12",
    AGENTBATCH_RETRY_BASE_MS: "50",
    AGENTBATCH_RETRY_MAX_MS: "500",
    AGENTBATCH_DATA_DIR: dir,
  };
  const common = ["--db", db, "--config", configFile];
  const serveArgs = ["serve", "--port", String(port), "--host", "127.0.0.1", ...common];
  const startApi = async () => {
    const p = startCli(testStore === "postgres" ? [...serveArgs, "--no-worker"] : serveArgs, env, dir);
    procs.push(p);
    await waitForHttp(p, `${base}/healthz`);
    return p;
  };
  let api = await startApi();
  // Killable processes: the workers on PostgreSQL, the one server on SQLite.
  let victims: CliProcess[] =
    testStore === "postgres"
      ? Array.from({ length: WORKERS }, () => startCli(["worker", ...common], env, dir))
      : [api];
  procs.push(...(testStore === "postgres" ? victims : []));

  const agent = (await callApi(base, key, "POST", "/agents", { name: "chaos", model: "mock/mock-model" }))
    .data;
  await callApi(base, key, "POST", `/agents/${agent.id}/publish`);
  const run = crypto.randomUUID().slice(0, 8);
  const batchIds: string[] = [];
  for (let b = 0; b < BATCHES; b++) {
    const requests = Array.from({ length: PER_BATCH }, (_, i) => ({
      custom_id: `b${b}-${i}`,
      message: `chaos ${run} b${b}-${i}`,
    }));
    batchIds.push((await callApi(base, key, "POST", "/batches", { agent_id: agent.id, requests })).data.id);
  }

  const progress = async () => {
    let done = 0;
    let finished = 0;
    for (const id of batchIds) {
      const b = (await callApi(base, key, "GET", `/batches/${id}`)).data;
      done += b.completed_requests + b.failed_requests;
      if (b.status === "completed") finished++;
    }
    return { done, finished };
  };

  // Kill a random victim every 1-2 s, and also each time another sixth of the items is done, and
  // start a replacement, until every batch is done. The progress kills make the schedule
  // independent of the engine's speed: a fast run (one server at 64 in flight does 5,000 items in
  // ~2 s) still takes several kills mid-run instead of finishing between two timed ones.
  const total = BATCHES * PER_BATCH;
  const step = Math.floor(total / 6);
  let kills = 0;
  let nextKillAt = Date.now() + random(1000, 2000);
  let nextKillDone = step;
  const deadline = Date.now() + 100_000;
  for (;;) {
    const { done, finished } = await progress();
    if (finished === BATCHES) break;
    if (Date.now() > deadline) {
      throw new Error(`only ${done} of ${total} done after ${kills} kills`);
    }
    if (Date.now() < nextKillAt && done < nextKillDone) {
      await new Promise((r) => setTimeout(r, 200)); // polls progress, the condition of the next kill
      continue;
    }
    const victim = victims[Math.floor(Math.random() * victims.length)];
    await killHard(victim);
    kills++;
    nextKillDone = done + step;
    if (testStore === "postgres") {
      const replacement = startCli(["worker", ...common], env, dir);
      procs.push(replacement);
      victims = victims.map((v) => (v === victim ? replacement : v));
    } else {
      api = await startApi();
      victims = [api];
    }
    // Counted from the restart: on SQLite from when the new server answers (on a loaded machine a
    // restart takes seconds, and a schedule counted from the kill would kill each new server as
    // soon as it answered); a PostgreSQL worker is not waited for (the others go on meanwhile).
    nextKillAt = Date.now() + random(1000, 2000);
  }
  expect(kills).toBeGreaterThanOrEqual(2);

  // Results: exactly one final result per custom_id; counters equal the results.
  const stored = new Map<string, any>();
  let succeeded = 0;
  let counted = 0;
  for (const id of batchIds) {
    const b = (await callApi(base, key, "GET", `/batches/${id}`)).data;
    expect(b).toMatchObject({ status: "completed", total_requests: PER_BATCH, pending_requests: 0 });
    expect(b.processing_requests).toBe(0);
    expect(b.completed_requests + b.failed_requests).toBe(PER_BATCH);
    const page = await callApi(base, key, "GET", `/batches/${id}/results?limit=1000`);
    expect(page.data).toHaveLength(PER_BATCH);
    expect(page.data.filter((r: any) => r.status === "success")).toHaveLength(b.completed_requests);
    expect(page.data.filter((r: any) => r.status === "failed")).toHaveLength(b.failed_requests);
    for (const r of page.data) {
      expect(stored.has(r.custom_id), `${r.custom_id} twice`).toBe(false);
      stored.set(r.custom_id, r);
    }
    succeeded += b.completed_requests;
    counted += b.completed_requests + b.failed_requests;
  }
  expect(stored.size).toBe(BATCHES * PER_BATCH);
  expect(counted).toBe(BATCHES * PER_BATCH);
  // 12 attempts at 5% errors: every request succeeds in the end.
  expect(succeeded).toBe(BATCHES * PER_BATCH);

  // The mock's log: a success stored needs a success answered; an item answered twice (its
  // worker was killed after the call) is still stored once: its chat holds one turn.
  const answered = new Map<string, number>();
  for (const line of readFileSync(log, "utf8").split("\n")) {
    if (!line) continue;
    const e = JSON.parse(line);
    if (e.status === 200) answered.set(e.lastUserMessage, (answered.get(e.lastUserMessage) ?? 0) + 1);
  }
  const twice: any[] = [];
  for (const [customId, r] of stored) {
    const calls = answered.get(`chaos ${run} ${customId}`) ?? 0;
    expect(calls, `${customId} stored as ${r.status} but answered ${calls} times`).toBeGreaterThanOrEqual(1);
    if (calls > 1) twice.push(r);
  }
  const chats = new Set([...stored.values()].map((r) => r.history_id));
  expect(chats.size).toBe(BATCHES * PER_BATCH);
  for (const r of twice.slice(0, 100)) {
    const messages = await callApi(base, key, "GET", `/chats/${r.history_id}/messages`);
    expect(messages.data, `${r.custom_id}: chat turns`).toHaveLength(2);
  }
  expect(isRunning(api)).toBe(true);
  console.log(
    JSON.stringify({
      store: testStore,
      kills,
      answeredTwice: twice.length,
      retried: [...stored.values()].filter((r) => r.attempts > 1).length,
      seconds: (Date.now() - started) / 1000,
    }),
  );
}, 150_000);
