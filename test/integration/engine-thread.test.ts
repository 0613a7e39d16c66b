/**
 * engine.thread on SQLite: the real service with its engine and webhook dispatcher in a worker
 * thread (src/threads/), the API in this one, two connections on one file. A batch created over
 * HTTP completes, pause and cancel reach the engine thread (shared signals over the thread
 * broadcast), a chat turn takes its permit from the engine thread's limiter, /metrics shows the
 * engine thread's series, and close drains: nothing is left leased. An engine thread that dies
 * while a spawned server runs ends the process (non-zero, a fatal log line). The engine thread runs the
 * built code (dist/threads/engine-main.js): needs `npm run build` first (`npm test` does it).
 */

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { openStore } from "../../src/store/index.js";
import { ThreadLimiters } from "../../src/threads/remote-limiters.js";
import { freePort, killHard, mainJs, startCli, waitForHttp } from "../helpers/processes.js";
import {
  batchRequests,
  publishedAgent,
  startTestServer,
  type TestServer,
  waitFor,
  waitForBatch,
  waitForProcessing,
} from "../helpers/server.js";

/** The built engine thread's entry, which the thread runs even from the TypeScript sources. */
const distFile = (path: string) => fileURLToPath(new URL(`../../dist/${path}`, import.meta.url));
const engineMainJs = distFile("threads/engine-main.js");

describe("the engine in a thread of its own (SQLite)", () => {
  const dir = mkdtempSync(join(tmpdir(), "agentbatch-thread-"));
  const db = `sqlite:${join(dir, "db.sqlite")}`;
  let t: TestServer;

  beforeAll(async () => {
    expect(existsSync(mainJs), `${mainJs} is missing: run npm run build`).toBe(true);
    expect(existsSync(engineMainJs), `${engineMainJs} is missing: run npm run build`).toBe(true);
    t = await startTestServer(
      (c) => {
        c.engine.thread = true;
        c.engine.concurrency = 8;
        c.engine.claimBatchSize = 4;
      },
      { db },
    );
  });
  afterAll(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs in the engine thread: no engine in the API thread", () => {
    expect(t.service.engine).toBeNull();
    expect(t.service.engineThread).toBe(true);
  });

  it("completes a batch created over HTTP", async () => {
    const agent = await publishedAgent(t, { model: "simulated/echo?latency_ms=20" });
    const created = await t.api("POST", "/api/v1/batches", { agent_id: agent, requests: batchRequests(60) });
    expect(created.status).toBe(202);
    const done = await waitForBatch(t, created.body.data.id);
    expect(done).toMatchObject({ status: "completed", completed_requests: 60, failed_requests: 0 });
  });

  it("pauses, resumes and cancels a batch running in the engine thread", async () => {
    const agent = await publishedAgent(t, { model: "simulated/echo?latency_ms=300" });
    const id = (await t.api("POST", "/api/v1/batches", { agent_id: agent, requests: batchRequests(80, "p") }))
      .body.data.id;
    await waitForProcessing(t, id, "some");
    expect((await t.api("POST", `/api/v1/batches/${id}/pause`)).status).toBe(200);
    const paused = await waitForProcessing(t, id, "none", "the paused batch to hold nothing");
    expect(paused.status).toBe("paused");
    expect(paused.pending_requests).toBeGreaterThan(0);
    expect((await t.api("POST", `/api/v1/batches/${id}/resume`)).status).toBe(200);
    await waitForProcessing(t, id, "some", "items to start again after resume");
    expect((await t.api("POST", `/api/v1/batches/${id}/cancel`)).status).toBe(202);
    const cancelled = await waitForBatch(t, id);
    expect(cancelled.status).toBe("cancelled");
    expect(cancelled.completed_requests).toBeLessThan(80);
  });

  it("answers a chat turn with a permit of the engine thread's limiter", async () => {
    const agent = await publishedAgent(t, { model: "simulated/echo" });
    const chat = (await t.api("POST", "/api/v1/chats", { agent_id: agent })).body.data;
    const answer = await t.api("POST", `/api/v1/chats/${chat.id}/messages`, {
      message: "hello",
      stream: false,
    });
    expect(answer.status).toBe(200);
    expect(JSON.stringify(answer.body.data)).toContain("hello");
  });

  it("shows the engine thread's series on /metrics", async () => {
    const text = await (await fetch(`${t.url}/metrics`)).text();
    expect(text).toMatch(/agentbatch_upstream_requests_total\{[^}]*provider="simulated"[^}]*\} [1-9]/);
    expect(text).toContain('agentbatch_engine_items{state="held"}');
    expect(text).toContain("process_cpu_seconds_total");
  });

  it("drains on close: in-flight items finish or go back, none is left leased", async () => {
    const agent = await publishedAgent(t, { model: "simulated/echo?latency_ms=200" });
    const id = (
      await t.api("POST", "/api/v1/batches", { agent_id: agent, requests: batchRequests(100, "d") })
    ).body.data.id;
    await waitFor(
      async () => (await t.api("GET", `/api/v1/batches/${id}`)).body.data.completed_requests > 0,
      {
        what: "results before the close",
      },
    );
    await t.service.close(2000);
    const store = await openStore(db);
    try {
      const items = (await store.items.list(id, { limit: 100, offset: 0 })).rows;
      expect(items.filter((i) => i.status === "processing")).toEqual([]);
      expect(items.filter((i) => i.status === "success").length).toBeGreaterThan(0);
      expect(items.filter((i) => i.status === "pending").length).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
  });
});

describe("the engine thread when the API cannot start (SQLite)", () => {
  it("stops the thread and closes the core when the port is taken: the process can exit", async () => {
    const dir = mkdtempSync(join(tmpdir(), "agentbatch-thread-"));
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const port = (taken.address() as AddressInfo).port;
    // In a process of its own (the built code): a Worker left running would keep it alive.
    const script = `
      const { loadConfig } = await import(${JSON.stringify(distFile("config/index.js"))});
      const { createLogger, startService } = await import(${JSON.stringify(distFile("service.js"))});
      const config = loadConfig({ port: ${port}, host: "127.0.0.1", db: ${JSON.stringify(`sqlite:${join(dir, "db.sqlite")}`)} }, {});
      config.engine.thread = true;
      try {
        await startService(config, { api: true, worker: true, logger: createLogger("silent") });
        console.log("started");
      } catch (err) {
        console.log("rejected " + err.code);
      }`;
    const scriptFile = join(dir, "start.mjs");
    writeFileSync(scriptFile, script);
    const child = spawn(process.execPath, [scriptFile], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    const exited = new Promise<number | null>((r) => child.on("exit", r));
    try {
      const code = await Promise.race([
        exited,
        new Promise<"alive">((r) => setTimeout(() => r("alive"), 30_000)),
      ]);
      expect(out).toContain("rejected EADDRINUSE");
      expect(code).toBe(0);
    } finally {
      child.kill();
      await new Promise((r) => taken.close(r));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the engine thread's limiters and the API's chat turns (SQLite)", () => {
  const dir = mkdtempSync(join(tmpdir(), "agentbatch-thread-"));
  const db = `sqlite:${join(dir, "db.sqlite")}`;
  let t: TestServer;
  // Every permit the API thread asks of the engine thread's limiters.
  const acquires = vi.spyOn(ThreadLimiters.prototype as unknown as { acquire: () => unknown }, "acquire");

  beforeAll(async () => {
    t = await startTestServer(
      (c) => {
        c.engine.thread = true;
        // One call at a time on this upstream, whichever thread makes it.
        c.providers.one = { type: "simulated", maxConcurrency: 1 };
      },
      { db },
    );
  });
  afterAll(async () => {
    acquires.mockRestore();
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const chatTurn = async (model: string) => {
    const agent = await publishedAgent(t, { model });
    const chat = (await t.api("POST", "/api/v1/chats", { agent_id: agent })).body.data;
    const state = { done: false };
    const answer = t
      .api("POST", `/api/v1/chats/${chat.id}/messages`, { message: "hello", stream: false })
      .finally(() => {
        state.done = true;
      });
    return { state, answer };
  };

  it("a chat turn waits for the upstream's only slot, held by a batch item in the engine thread", async () => {
    const agent = await publishedAgent(t, { model: "one/echo?latency_ms=5000" });
    const id = (await t.api("POST", "/api/v1/batches", { agent_id: agent, requests: batchRequests(1, "s") }))
      .body.data.id;
    await waitForProcessing(t, id, "some", "the batch item to hold the upstream's only slot");
    const before = acquires.mock.calls.length;
    const turn = await chatTurn("one/echo");
    await waitFor(() => acquires.mock.calls.length > before || null, {
      what: "the chat turn to ask the engine thread for a permit",
    });
    // The engine thread's limiter has no slot for it until the batch item ends.
    expect(turn.state.done).toBe(false);
    const answer = await turn.answer;
    expect(await waitForBatch(t, id)).toMatchObject({ status: "completed", completed_requests: 1 });
    expect(answer.status).toBe(200);
    expect(JSON.stringify(answer.body.data)).toContain("hello");
  });

  it("close lets a chat turn waiting for a permit finish within the grace", async () => {
    const before = acquires.mock.calls.length;
    const first = await chatTurn("one/echo?latency_ms=1000");
    await waitFor(() => acquires.mock.calls.length > before || null, { what: "the first turn's permit" });
    // Waits in the engine thread's limiter behind the first, past the engine's own drain.
    const second = await chatTurn("one/echo");
    await waitFor(() => acquires.mock.calls.length > before + 1 || null, { what: "the second turn's wait" });
    await t.service.close(5_000);
    expect((await first.answer).status).toBe(200);
    const answer = await second.answer;
    expect(answer.status).toBe(200);
    expect(JSON.stringify(answer.body.data)).toContain("hello");
  });
});

describe("an engine thread that dies while the server runs (SQLite)", () => {
  it("ends the process with a non-zero code and a fatal log line: no API goes on with a dead engine", async () => {
    const dir = mkdtempSync(join(tmpdir(), "agentbatch-thread-"));
    const crashFile = join(dir, "crash-now");
    // Preloaded in every thread of the server (NODE_OPTIONS reaches worker threads); in the engine
    // thread (its workerData has the config), it throws out of that thread's event loop once
    // the test creates `crashFile`, as an engine bug would.
    const preload = join(dir, "crash-engine-thread.cjs");
    writeFileSync(
      preload,
      `const { isMainThread, workerData } = require("node:worker_threads");
       const { existsSync } = require("node:fs");
       if (!isMainThread && workerData && workerData.config) {
         const timer = setInterval(() => {
           if (!existsSync(${JSON.stringify(crashFile)})) return;
           clearInterval(timer);
           throw new Error("engine thread crash (test)");
         }, 20);
         timer.unref();
       }`,
    );
    const port = await freePort();
    const server = startCli(
      ["serve", "--port", String(port), "--host", "127.0.0.1", "--db", `sqlite:${join(dir, "db.sqlite")}`],
      {
        AGENTBATCH_ENGINE_THREAD: "1",
        NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --require ${JSON.stringify(preload)}`.trim(),
      },
      dir,
    );
    try {
      // /healthz answers once startService has resolved: the engine thread runs.
      await waitForHttp(server, `http://127.0.0.1:${port}/healthz`, 30_000);
      writeFileSync(crashFile, "");
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        server.exited,
        new Promise<"still running">((r) => {
          timer = setTimeout(() => r("still running"), 30_000);
        }),
      ]);
      clearTimeout(timer);
      // The last lines may arrive after the exit: read the output once the pipes are closed.
      if (code !== "still running") await server.closed;
      const output = server.output.join("");
      expect(code, output).toEqual(expect.any(Number));
      expect(code, output).not.toBe(0);
      expect(output).toMatch(/"level":60[^\n]*the engine thread died/);
      expect(output).toContain("engine thread crash (test)");
    } finally {
      await killHard(server);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
