/**
 * Crash recovery in seconds, on the store of this run, with the default 60 s lease (not lowered):
 * - SQLite: `serve` is SIGKILLed while it holds every item of a batch, then restarted on the same
 *   file; the new instance takes over the dead one's leases at start.
 * - PostgreSQL: an API node and a worker holding every item; the worker is SIGKILLed and a new
 *   worker started; the dead worker's items come back once its heartbeat is stale.
 * Prints the time from the restart to the first completed item. Then an item in flight
 * during two crashes with `quarantine_after` 2 fails as quarantined instead of running again.
 * Needs `npm run build` first.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { generateApiKey } from "../../src/server/auth.js";
import { dropSchema } from "../../src/store/postgres/admin.js";
import { type CliProcess, callApi, freePort, killHard, startCli, waitForHttp } from "../helpers/processes.js";
import { freshPostgresUrl, testStore, waitFor } from "../helpers/server.js";

const ITEMS = 40;
const dir = mkdtempSync(join(tmpdir(), "agentbatch-recovery-"));
const procs: CliProcess[] = [];
const db = testStore === "postgres" ? freshPostgresUrl() : `sqlite:${join(dir, "db.sqlite")}`;
const key = generateApiKey();
let base = "";
let port = 0;

beforeAll(async () => {
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  for (const p of procs) await killHard(p);
  if (testStore === "postgres") await dropSchema(db);
  rmSync(dir, { recursive: true, force: true });
});

const env = (extra: Record<string, string> = {}) => ({
  AGENTBATCH_API_KEY: key,
  AGENTBATCH_DATA_DIR: dir,
  AGENTBATCH_CONCURRENCY: "64",
  ...extra,
});
const api = (method: string, path: string, body?: unknown): Promise<any> =>
  callApi(base, key, method, path, body);

async function serve(extra: Record<string, string> = {}, worker = true): Promise<CliProcess> {
  const args = ["serve", "--port", String(port), "--host", "127.0.0.1", "--db", db];
  const p = startCli(worker ? args : [...args, "--no-worker"], env(extra), dir);
  procs.push(p);
  await waitForHttp(p, `${base}/healthz`, 30_000);
  return p;
}

function worker(extra: Record<string, string> = {}): CliProcess {
  const p = startCli(["worker", "--db", db], env(extra), dir);
  procs.push(p);
  return p;
}

/** Starts the API (and, on PostgreSQL, a separate worker); returns the process to kill. */
async function startAll(extra: Record<string, string> = {}): Promise<CliProcess> {
  const apiNode = await serve(extra, testStore === "sqlite");
  return testStore === "sqlite" ? apiNode : worker(extra);
}

/** The killed process's replacement: the server again on SQLite, a new worker on PostgreSQL. */
const restart = async (extra: Record<string, string> = {}) =>
  testStore === "sqlite" ? serve(extra) : worker(extra);

async function batchOf(model: string, n: number): Promise<string> {
  const agent = (await api("POST", "/agents", { name: `recovery-${model}`, model })).data;
  await api("POST", `/agents/${agent.id}/publish`);
  const requests = Array.from({ length: n }, (_, i) => ({ custom_id: `c-${i}`, message: `m ${i}` }));
  return (await api("POST", "/batches", { agent_id: agent.id, requests })).data.id;
}

const batchNow = async (id: string) => (await api("GET", `/batches/${id}`)).data;

/** Waits until every item of the batch is held by a worker (in flight). */
const allInFlight = (id: string, n: number, what: string) =>
  waitFor(async () => (await batchNow(id)).processing_requests === n, { timeoutMs: 30_000, what });

it(`${testStore}: the items of a killed process run again within seconds, not after their lease`, async () => {
  let victim = await startAll();
  const id = await batchOf("simulated/echo?latency_ms=1000", ITEMS);
  await allInFlight(id, ITEMS, "every item in flight");
  expect((await batchNow(id)).completed_requests).toBe(0);

  await killHard(victim);
  const killedAt = Date.now();
  const restartedAt = Date.now();
  victim = await restart();
  const upAt = Date.now();
  await waitFor(async () => (await batchNow(id)).completed_requests > 0, {
    timeoutMs: 40_000,
    intervalMs: 20,
    what: "a completed item after the restart",
  });
  const firstAt = Date.now();
  const done = await waitFor(
    async () => {
      const b = await batchNow(id);
      return b.status === "completed" ? b : null;
    },
    { timeoutMs: 40_000, what: "the batch to complete" },
  );
  expect(done).toMatchObject({ completed_requests: ITEMS, failed_requests: 0 });
  const results = (await api("GET", `/batches/${id}/results?limit=100`)).data;
  expect(results.every((r: any) => r.status === "success")).toBe(true);
  for (const p of procs) await killHard(p);
  console.log(
    JSON.stringify({
      store: testStore,
      lease_ms: 60_000,
      model_latency_ms: 1000,
      restart_to_first_completed_ms: firstAt - restartedAt,
      kill_to_first_completed_ms: firstAt - killedAt,
      ...(testStore === "sqlite" ? { listening_to_first_completed_ms: firstAt - upAt } : {}),
    }),
  );
}, 120_000);

it(`${testStore}: an item in flight during two crashes is quarantined`, async () => {
  const quarantine = { AGENTBATCH_QUARANTINE_AFTER: "2" };
  let server = await startAll(quarantine);
  const id = await batchOf("simulated/echo?latency_ms=30000", 3);
  for (let crash = 1; crash <= 2; crash++) {
    // In flight again: claimed by the live process (its crash-th claim), not left to the dead one.
    await waitFor(
      async () => {
        const items = (await api("GET", `/batches/${id}/results?limit=10`)).data;
        return items.every((r: any) => r.status === "processing" && r.attempts === crash);
      },
      { timeoutMs: 30_000, what: `every item in flight before crash ${crash}` },
    );
    await killHard(server);
    server = await restart(quarantine);
  }
  const done = await waitFor(
    async () => {
      const b = await batchNow(id);
      return b.status === "completed" ? b : null;
    },
    { timeoutMs: 20_000, what: "the quarantined items to fail" },
  );
  expect(done).toMatchObject({ completed_requests: 0, failed_requests: 3 });
  const results = (await api("GET", `/batches/${id}/results?limit=10`)).data;
  for (const r of results) {
    expect(r.error_code).toBe(500);
    expect(r.error_message).toMatch(/^Quarantined: .*2 worker crashes/);
  }
  for (const p of procs) await killHard(p);
}, 120_000);

it(`${testStore}: a second live server on the same database takes none of the first one's items`, async () => {
  const first = await serve();
  const id = await batchOf("simulated/echo?latency_ms=3000", 10);
  await allInFlight(id, 10, "every item in flight on the first server");
  // By mistake (SQLite) or by design (PostgreSQL): another server on the same database.
  const otherPort = await freePort();
  const second = startCli(
    ["serve", "--port", String(otherPort), "--host", "127.0.0.1", "--db", db],
    env(),
    dir,
  );
  procs.push(second);
  await waitForHttp(second, `http://127.0.0.1:${otherPort}/healthz`, 30_000);
  await waitFor(async () => (await batchNow(id)).status === "completed", {
    timeoutMs: 40_000,
    what: "the batch to complete",
  });
  // Each item ran once, on the first server: the second started none of them again.
  const results = (await api("GET", `/batches/${id}/results?limit=10`)).data;
  expect(results.map((r: any) => [r.status, r.attempts])).toEqual(
    Array.from({ length: 10 }, () => ["success", 1]),
  );
  await killHard(first);
}, 120_000);
