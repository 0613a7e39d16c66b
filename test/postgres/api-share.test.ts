/**
 * A process that serves the API only (`serve --no-worker`) calls the upstreams for chat turns
 * with its own limiters: it joins the limit shares while it does (engine/api-share.ts), so a
 * worker's share and its own never add up to more than the provider's limit. Before, it kept the
 * whole limit on top of the workers' shares and the upstream refused calls with 429.
 */
import pino from "pino";
import { afterAll, expect, it } from "vitest";
import type { Config } from "../../src/config/index.js";
import { ApiShare } from "../../src/engine/api-share.js";
import { Heartbeat } from "../../src/engine/heartbeat.js";
import { startMockLlm } from "../../src/mock-llm/server.js";
import { LimiterRegistry } from "../../src/providers/rate-limiter.js";
import { openStore, type Store } from "../../src/store/index.js";
import { dropSchema } from "../../src/store/postgres/admin.js";
import {
  freshPostgresUrl,
  publishedAgent,
  startTestServer,
  type TestServer,
  waitFor,
} from "../helpers/server.js";

const RPM = 60;
const db = freshPostgresUrl();
/** The second test's schema: the first one's processes are live until the end. */
const db2 = freshPostgresUrl();
const mock = await startMockLlm({ rpm: RPM });
const servers: TestServer[] = [];
const stores: Store[] = [];
const heartbeats: Heartbeat[] = [];

afterAll(async () => {
  for (const s of servers) await s.close();
  for (const h of heartbeats) await h.stop();
  for (const s of stores) await s.close();
  await mock.close();
  await dropSchema(db);
  await dropSchema(db2);
});

const provider = (c: Config) => {
  c.providers.up = { type: "openai-compatible", baseUrl: mock.url, apiKey: "test", rpm: RPM };
};

it("an API process's chat turns and a busy worker stay within the limit together", async () => {
  const worker = await startTestServer(provider, { db });
  servers.push(worker);
  const api = await startTestServer(provider, { worker: false, db });
  servers.push(api);
  const share = api.service.limiters as ApiShare;
  // No chat turn yet: the API process is no member, the worker is alone.
  expect(share.member).toBe(false);
  await waitFor(async () => (await api.service.store.workers.live(3_000)).length === 1, {
    what: "the worker's row",
  });
  // The worker spends its whole limit: its burst at once, then as its bucket refills.
  const agentId = await publishedAgent(worker, { model: "up/mock-model" });
  const requests = Array.from({ length: 200 }, (_, i) => ({ custom_id: `c${i}`, message: `item ${i}` }));
  const batch = await worker.api("POST", "/api/v1/batches", { agent_id: agentId, requests });
  expect(batch.status, JSON.stringify(batch.body)).toBeLessThan(300);
  await waitFor(() => mock.log.length >= RPM, { timeoutMs: 20_000, what: "the worker's burst" });
  // Three chat turns on the API process meanwhile: each answered, none refused upstream.
  const turns = await Promise.all(
    [0, 1, 2].map(async (i) => {
      const chat = await api.api("POST", "/api/v1/chats", { agent_id: agentId, name: `chat ${i}` });
      expect(chat.status, JSON.stringify(chat.body)).toBe(201);
      return api.api("POST", `/api/v1/chats/${chat.body.data.id}/messages`, { message: "hi", stream: false });
    }),
  );
  for (const t of turns) expect(t.status, JSON.stringify(t.body)).toBeLessThan(300);
  expect(share.member).toBe(true);
  expect(await api.service.store.workers.live(3_000)).toHaveLength(2);
  expect(mock.log.filter((e) => e.status === 429)).toEqual([]);
  await worker.api("POST", `/api/v1/batches/${batch.body.data.id}/cancel`);
}, 60_000);

it("an idle API process leaves the shares, and the workers take the whole limit back", async () => {
  const store = await openStore(db2);
  stores.push(store);
  const logger = pino({ level: "silent" });
  const workerLimiters = new LimiterRegistry(() => ({ maxConcurrency: 8 }), 100);
  const heartbeat = new Heartbeat({ store, owner: "w", limiters: workerLimiters, logger });
  heartbeats.push(heartbeat);
  heartbeat.start();
  const workerLimiter = workerLimiters.get("up");
  await waitFor(() => workerLimiter.currentConcurrencyLimit === 8, { what: "the worker's whole limit" });
  const apiLimiters = new LimiterRegistry(() => ({ maxConcurrency: 8 }), 100);
  const share = new ApiShare({ store, limiters: apiLimiters, logger, idleMs: 200 });
  const permit = await share.get("up").acquire(1, new AbortController().signal);
  // Granted once the worker had cut its share to half.
  expect(share.member).toBe(true);
  expect(workerLimiter.currentConcurrencyLimit).toBe(4);
  expect(apiLimiters.get("up").currentConcurrencyLimit).toBe(4);
  permit.release(null);
  await waitFor(() => !share.member, { what: "the API process to leave" });
  await waitFor(() => workerLimiter.currentConcurrencyLimit === 8, { what: "the whole limit back" });
  // Not a member, it holds every limited upstream.
  expect(apiLimiters.get("up").currentConcurrencyLimit).toBe(0);
  await share.stop();
});

it("a stopping API process keeps its share while a chat call still runs, up to the grace", async () => {
  const store = await openStore(db2);
  stores.push(store);
  const logger = pino({ level: "silent" });
  const workerLimiters = new LimiterRegistry(() => ({ maxConcurrency: 8 }), 100);
  const heartbeat = new Heartbeat({ store, owner: "w2", limiters: workerLimiters, logger });
  heartbeats.push(heartbeat);
  heartbeat.start();
  const apiLimiters = new LimiterRegistry(() => ({ maxConcurrency: 8 }), 100);
  const share = new ApiShare({ store, limiters: apiLimiters, logger });
  const permit = await share.get("up").acquire(1, new AbortController().signal);
  expect(share.member).toBe(true);
  let stopped = false;
  const stopping = share.stop(30_000).then(() => {
    stopped = true;
  });
  await Promise.resolve();
  // The call still runs: the API process is still a member (its row stays, its share held).
  expect(share.member).toBe(true);
  expect(stopped).toBe(false);
  permit.release(null);
  await stopping;
  expect(share.member).toBe(false);
  // A call with an aborted signal after the stop joins nothing.
  const aborted = new AbortController();
  aborted.abort();
  await expect(share.get("up").acquire(1, aborted.signal)).rejects.toThrow(/aborted/);
  expect(share.member).toBe(false);
});
