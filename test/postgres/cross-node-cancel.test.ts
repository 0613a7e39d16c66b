/**
 * A cancel received by one API node is obeyed by a worker in another process at once: the
 * worker holds items waiting for a rate-limit slot (the provider allows 3 requests a minute),
 * the cancel travels over LISTEN/NOTIFY, and the worker hands those items back instead of
 * starting them, so the batch ends `cancelled` within a second or two rather than minutes.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { startMockLlm } from "../../src/mock-llm/server.js";
import { dropSchema } from "../../src/store/postgres/admin.js";
import { type CliProcess, killHard, startCli } from "../helpers/processes.js";
import {
  freshPostgresUrl,
  publishedAgent,
  startTestServer,
  type TestServer,
  waitFor,
} from "../helpers/server.js";

const dir = mkdtempSync(join(tmpdir(), "agentbatch-cancel-"));
const db = freshPostgresUrl();
let api: TestServer | undefined;
let worker: CliProcess | undefined;
const mock = await startMockLlm({ latencyMs: 50 });

afterAll(async () => {
  if (worker) await killHard(worker);
  await api?.close();
  await mock.close();
  await dropSchema(db);
  rmSync(dir, { recursive: true, force: true });
});

it("a cancel on the API node stops new starts on a worker process within a second", async () => {
  const providers = {
    slow: { type: "openai-compatible", base_url: `${mock.url}`, api_key: "test", rpm: 3 },
  };
  const configFile = join(dir, "config.json");
  writeFileSync(configFile, JSON.stringify({ providers }));
  api = await startTestServer(
    (c) => {
      c.providers.slow = { type: "openai-compatible", baseUrl: mock.url, apiKey: "test", rpm: 3 };
    },
    { worker: false, db },
  );
  worker = startCli(["worker", "--db", db, "--config", configFile], {
    AGENTBATCH_LEASE_MS: "30000",
    AGENTBATCH_CONCURRENCY: "50",
  });

  const agentId = await publishedAgent(api, { model: "slow/mock-model" });
  const requests = Array.from({ length: 40 }, (_, i) => ({ custom_id: `c${i}`, message: `cancel-me ${i}` }));
  const created = await api.api("POST", "/api/v1/batches", { agent_id: agentId, requests });
  expect(created.status, JSON.stringify(created.body)).toBeLessThan(300);
  const id = created.body.data.id;

  // The worker holds everything: 3 calls made, the rest waiting on the rate limit.
  await waitFor(
    async () => {
      const b = (await api?.api("GET", `/api/v1/batches/${id}`))?.body.data;
      return b.completed_requests === 3 && b.processing_requests === 37;
    },
    { timeoutMs: 20_000, what: "the worker to claim the batch" },
  );
  const cancelledAt = Date.now();
  const cancel = await api.api("POST", `/api/v1/batches/${id}/cancel`);
  expect(cancel.status, JSON.stringify(cancel.body)).toBeLessThan(300);
  const done = await waitFor(
    async () => {
      const b = (await api?.api("GET", `/api/v1/batches/${id}`))?.body.data;
      return b.status === "cancelled" ? b : null;
    },
    { timeoutMs: 5_000, what: "the batch to be cancelled" },
  );
  const tookMs = Date.now() - cancelledAt;
  expect(tookMs).toBeLessThan(2_000);
  // Only the calls made before the cancel ran: every other request failed with 499 unstarted.
  const results = (await api.api("GET", `/api/v1/batches/${id}/results?limit=100`)).body.data as any[];
  const cancelled = results.filter((r) => r.status === "failed" && r.error_code === 499);
  const calls = mock.log.filter((e) => e.lastUserMessage.startsWith("cancel-me")).length;
  expect(calls).toBeLessThanOrEqual(4);
  expect(done.completed_requests + done.failed_requests).toBe(40);
  expect(cancelled.length).toBe(40 - calls);
});
