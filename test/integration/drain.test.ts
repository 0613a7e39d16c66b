/**
 * SIGTERM under load, on the store of this run: the built server runs a batch against
 * `agentbatch mock-llm` (300 ms latency) with a progress stream open, gets SIGTERM mid-batch,
 * and must exit by itself (the stream ended, in-flight calls finished and stored), leaving no
 * item leased; after the restart the batch completes and the mock saw no second call for any
 * item stored before the signal. Prints how long the drain took.
 * Needs `npm run build` first.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { openStore } from "../../src/store/index.js";
import { dropSchema } from "../../src/store/postgres/admin.js";
import {
  type CliProcess,
  killHard,
  type RestartableServer,
  restartableServer,
  startMockProcess,
  writeMockConfig,
} from "../helpers/processes.js";
import { freshPostgresUrl, testStore, waitFor } from "../helpers/server.js";

const ITEMS = 400;
const dir = mkdtempSync(join(tmpdir(), "agentbatch-drain-"));
const procs: CliProcess[] = [];
const servers: RestartableServer[] = [];
const db = testStore === "postgres" ? freshPostgresUrl() : `sqlite:${join(dir, "db.sqlite")}`;

afterAll(async () => {
  for (const p of procs) await killHard(p);
  for (const s of servers) await s.killAll();
  if (testStore === "postgres") await dropSchema(db);
  rmSync(dir, { recursive: true, force: true });
});

it(`${testStore}: SIGTERM drains: nothing finished is lost or called again, nothing waits for a lease`, async () => {
  const log = join(dir, "mock.jsonl");
  const mock = await startMockProcess({ latencyMs: 300, log });
  procs.push(mock.proc);
  const configFile = writeMockConfig(dir, mock.url);
  const node = await restartableServer({
    db,
    dir,
    env: { AGENTBATCH_CONCURRENCY: "32", AGENTBATCH_DATA_DIR: dir },
    args: ["--config", configFile],
  });
  servers.push(node);
  const { base, key, api, start: serve } = node;

  const server = await serve();
  const agent = (await api("POST", "/agents", { name: "drain", model: "mock/mock-model" })).data;
  await api("POST", `/agents/${agent.id}/publish`);
  const run = crypto.randomUUID().slice(0, 8);
  const requests = Array.from({ length: ITEMS }, (_, i) => ({
    custom_id: `c-${i}`,
    message: `drain ${run} ${i}`,
  }));
  const batchId = (await api("POST", "/batches", { agent_id: agent.id, requests })).data.id;

  // An open dashboard tab: a progress stream that nothing but the shutdown ends.
  const events = await fetch(`${base}/api/v1/batches/${batchId}/events`, { headers: { "x-api-key": key } });
  expect(events.status).toBe(200);
  const streamEnded = (async () => {
    const reader = (events.body as ReadableStream<Uint8Array>).getReader();
    for (;;) if ((await reader.read()).done) return true;
  })().catch(() => false);

  await waitFor(async () => (await api("GET", `/batches/${batchId}`)).data.completed_requests >= 60, {
    timeoutMs: 60_000,
    what: "60 results before the signal",
  });
  const signalledAt = Date.now();
  server.child.kill("SIGTERM");
  const code = await server.exited;
  const drainMs = Date.now() - signalledAt;
  expect(code, server.output.join("")).toBe(0);
  expect(await streamEnded).toBe(true);

  // Stopped: no item is left leased (nothing waits for a lease after the restart).
  const store = await openStore(db);
  const before = (await store.items.list(batchId, { limit: ITEMS, offset: 0 })).rows;
  await store.close();
  expect(before.filter((i) => i.status === "processing")).toEqual([]);
  const storedBefore = before.filter((i) => i.status === "success");
  expect(storedBefore.length).toBeGreaterThanOrEqual(60);

  await serve();
  const done = await waitFor(
    async () => {
      const b = (await api("GET", `/batches/${batchId}`)).data;
      return b.status === "completed" ? b : null;
    },
    { timeoutMs: 90_000, what: "the batch to complete after the restart" },
  );
  expect(done).toMatchObject({ completed_requests: ITEMS, failed_requests: 0 });

  const calls = new Map<string, number>();
  for (const line of readFileSync(log, "utf8").split("\n")) {
    if (!line) continue;
    const e = JSON.parse(line);
    if (e.status === 200) calls.set(e.lastUserMessage, (calls.get(e.lastUserMessage) ?? 0) + 1);
  }
  for (const item of storedBefore) {
    expect(calls.get(item.message), `${item.customId} called again after it was stored`).toBe(1);
  }
  console.log(
    JSON.stringify({
      store: testStore,
      drain_ms: drainMs,
      stored_before_signal: storedBefore.length,
      called_twice: [...calls.values()].filter((c) => c > 1).length,
    }),
  );
}, 180_000);
