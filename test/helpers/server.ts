import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "pino";
import { type Config, loadConfig } from "../../src/config/index.js";
import { generateApiKey, registerApiKey } from "../../src/server/auth.js";
import { createLogger, type Service, startService } from "../../src/service.js";
import { isPostgresUrl } from "../../src/store/index.js";
import { dropSchema } from "../../src/store/postgres/admin.js";
import { waitFor } from "./wait.js";

export { waitFor };

export interface TestServer {
  url: string;
  /** An API key of the default workspace. */
  key: string;
  service: Service;
  /** Calls the API with the default key (or `key`), parsing the JSON body. */
  api: (
    method: string,
    path: string,
    body?: unknown,
    key?: string,
  ) => Promise<{ status: number; body: any; headers: Headers }>;
  /** A key of a new workspace of that name. */
  newWorkspaceKey: (name: string) => Promise<string>;
  close: () => Promise<void>;
}

/** Which store the integration suite runs against (vitest.config.ts runs it once per store). */
export const testStore: "sqlite" | "postgres" = process.env.TEST_STORE === "postgres" ? "postgres" : "sqlite";

/** The PostgreSQL server of the postgres run; a missing TEST_DATABASE_URL fails, never skips. */
export function testDatabaseUrl(): string {
  const url = process.env.TEST_DATABASE_URL;
  if (!url)
    throw new Error(
      "TEST_STORE=postgres needs TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)",
    );
  return url;
}

/** A URL of a fresh PostgreSQL schema of the test database (drop it with dropSchema). */
export function freshPostgresUrl(): string {
  const url = new URL(testDatabaseUrl());
  url.searchParams.set("schema", `t_${crypto.randomUUID().replace(/-/g, "").slice(0, 16)}`);
  return url.toString();
}

/** The database the tests run against: SQLite in a temp dir, or a fresh schema when TEST_STORE=postgres. */
export function testDbUrl(dir: string): string {
  return testStore === "postgres" ? freshPostgresUrl() : `sqlite:${join(dir, "test.db")}`;
}

/**
 * Starts the real service (HTTP API + engine) on an ephemeral port with a fresh database.
 * `configure` adjusts the loaded config (engine timings, providers...).
 */
export async function startTestServer(
  configure: (c: Config) => void = () => {},
  options: { worker?: boolean; db?: string; logger?: Logger } = {},
): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), "agentbatch-test-"));
  const db = options.db ?? testDbUrl(dir);
  const config = loadConfig({ port: 0, host: "127.0.0.1", db }, {});
  config.engine.pollIntervalMs = 50;
  config.engine.commitIntervalMs = 20;
  config.webhooks.allowHttp = true;
  // TEST_ENGINE_THREAD=1 runs the suite with the engine in a thread of its own (SQLite files only).
  if (process.env.TEST_ENGINE_THREAD === "1") config.engine.thread = true;
  configure(config);
  const service = await startService(config, {
    api: true,
    worker: options.worker ?? true,
    logger: options.logger ?? createLogger(process.env.TEST_LOG_LEVEL ?? "silent"),
  });
  const key = generateApiKey();
  await registerApiKey(service.store, key);
  const url = service.url as string;
  const api = async (method: string, path: string, body?: unknown, useKey: string = key) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { "x-api-key": useKey, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: any = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON: keep the text */
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };
  return {
    url,
    key,
    service,
    api,
    newWorkspaceKey: async (name: string) => {
      const k = generateApiKey();
      await registerApiKey(service.store, k, name);
      return k;
    },
    close: async () => {
      await service.close(2000);
      rmSync(dir, { recursive: true, force: true });
      if (options.db === undefined && isPostgresUrl(db)) await dropSchema(db);
    },
  };
}

/**
 * How many items the server's engine holds in `state` (held, running, buffered, claimed_ahead),
 * from /metrics: the same whether the engine runs in the API's thread or in a thread of its own
 * (`engine.thread`, where `service.engine` is null and the scrape asks the engine thread).
 */
export async function engineItems(
  t: TestServer,
  state: "held" | "running" | "buffered",
): Promise<number | null> {
  // null (poll again) when a scrape fails or lacks the series: with engine.thread a first scrape
  // the engine thread does not answer in time has no earlier series to fall back on.
  const res = await fetch(`${t.url}/metrics`).catch(() => null);
  if (!res?.ok) return null;
  const text = await res.text();
  const line = text.split("\n").find((l) => l.startsWith(`agentbatch_engine_items{state="${state}"} `));
  return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : null;
}

/** Creates and publishes an agent; returns its id. */
export async function publishedAgent(
  t: TestServer,
  body: Record<string, unknown> = {},
  key?: string,
): Promise<string> {
  const created = await t.api(
    "POST",
    "/api/v1/agents",
    { name: "test agent", model: "simulated/echo", ...body },
    key,
  );
  if (created.status !== 201) throw new Error(`agent create failed: ${JSON.stringify(created.body)}`);
  const id = created.body.data.id as string;
  const pub = await t.api("POST", `/api/v1/agents/${id}/publish`, undefined, key);
  if (pub.status !== 200) throw new Error(`publish failed: ${JSON.stringify(pub.body)}`);
  return id;
}

/** Waits until the batch reaches a final status and returns it. */
export async function waitForBatch(
  t: TestServer,
  id: string,
  key?: string,
  timeoutMs = 30_000,
): Promise<any> {
  return waitFor(
    async () => {
      const r = await t.api("GET", `/api/v1/batches/${id}`, undefined, key);
      return ["completed", "failed", "cancelled"].includes(r.body.data?.status) ? r.body.data : null;
    },
    { timeoutMs, what: `batch ${id} to finish` },
  );
}

/** `n` requests of a batch: custom ids `PREFIX-0` … and messages `Question 0` …. */
export function batchRequests(n: number, prefix = "r"): { custom_id: string; message: string }[] {
  return Array.from({ length: n }, (_, i) => ({ custom_id: `${prefix}-${i}`, message: `Question ${i}` }));
}

/**
 * Polls a batch until `check` holds of it (`processing: "some"`: an item is in a model call;
 * `"none"`: none is, as once a paused batch's in-flight items have finished); returns it.
 */
export async function waitForProcessing(
  t: TestServer,
  id: string,
  processing: "some" | "none",
  what = processing === "some" ? "items to start" : "in-flight items to finish",
): Promise<any> {
  return waitFor(
    async () => {
      const b = (await t.api("GET", `/api/v1/batches/${id}`)).body.data;
      return (processing === "some" ? b.processing_requests > 0 : b.processing_requests === 0) ? b : null;
    },
    { what },
  );
}

/** Polls a batch made from a file until its background ingest has ended (no longer `validating`). */
export async function waitForIngest(
  t: TestServer,
  id: string,
  key?: string,
  timeoutMs = 60_000,
): Promise<any> {
  return waitFor(
    async () => {
      const r = await t.api("GET", `/api/v1/batches/${id}`, undefined, key);
      return r.body.data && r.body.data.status !== "validating" ? r.body.data : null;
    },
    { timeoutMs, what: `batch ${id} to be ingested` },
  );
}
