#!/usr/bin/env node
/**
 * Tool-loop benchmark (issue 13): what an agent with one HTTP tool costs per item, relative to
 * single-call items measured in the same run.
 *
 *   npm run bench:tools
 *   BENCH_ITEMS=5000 BENCH_CONCURRENCY=64 node bench/tools.mjs
 *
 * The tool server (a tiny loopback HTTP server answering every call with a small JSON object)
 * runs in this orchestrating process, so its CPU is not counted; each measured phase runs in a
 * fresh child process (this file with --phase), with the service in-process (HTTP API + engine,
 * SQLite in a temp dir, engine concurrency CONCURRENCY), ITEMS requests as batches of 1000
 * POSTed over HTTP and polled until completed, after an untimed warm-up of 1000 items:
 *
 *   single  each item is one call to the in-process `simulated/echo` model;
 *   tool    the same items on an agent on `simulated/echo` with one http tool (the loopback
 *           server, listed in tools.trusted_origins; tools.concurrency_per_host = CONCURRENCY),
 *           so each item is model call -> tool call -> model call. Before timing, the steps of
 *           one warm-up item are checked to be exactly [model, tool, model].
 *
 * Prints one JSON object: items/s of each phase, the ratio tool/single (aim >= 0.45), CPU ms per
 * item, CPU ms per step of the tool phase (its CPU / (3 x items)), peak RSS.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { apiCaller, measure } from "./lib.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const ITEMS = Number(process.env.BENCH_ITEMS ?? 5000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const WARMUP = 1000;
const PER_BATCH = 1000;
const POLL_MS = 50;
const STEPS_PER_TOOL_ITEM = 3;

// ---------------------------------------------------------------------------------------------
// A phase (in a child process)

function toolSpec(toolUrl) {
  return {
    type: "http",
    name: "lookup_order",
    description: "Looks up the status of an order by its id",
    parameters: {
      type: "object",
      properties: { order_id: { type: "string", description: "The order id" } },
      required: ["order_id"],
    },
    url: toolUrl,
  };
}

async function startBenchService(toolUrl) {
  const { loadConfig } = await import(join(root, "dist/config/index.js"));
  const { createLogger, startService } = await import(join(root, "dist/service.js"));
  const { generateApiKey, registerApiKey } = await import(join(root, "dist/server/auth.js"));
  const dir = mkdtempSync(join(tmpdir(), "agentbatch-bench-tools-"));
  const config = loadConfig({ port: 0, host: "127.0.0.1", db: `sqlite:${join(dir, "bench.db")}` }, {});
  config.logLevel = "silent";
  config.engine.concurrency = CONCURRENCY;
  config.tools.trustedOrigins = [new URL(toolUrl).origin];
  config.tools.concurrencyPerHost = CONCURRENCY;
  const service = await startService(config, { api: true, worker: true, logger: createLogger("silent") });
  const key = generateApiKey();
  await registerApiKey(service.store, key);
  const api = apiCaller(service.url, key);
  const close = async () => {
    await service.close(5000);
    rmSync(dir, { recursive: true, force: true });
  };
  return { api, close };
}

/** Throws unless the item's stored transcript is model call -> tool call -> model call. */
async function checkTranscript(api, batchId, customId) {
  const steps = (await api("GET", `/batches/${batchId}/results/${customId}/steps`)).data.steps;
  const types = steps.map((s) => s.type).join(",");
  if (types !== "model,tool,model" || steps[0].tool_calls?.length !== 1 || steps[2].tool_calls?.length !== 0)
    throw new Error(
      `the tool item's steps are ${types}, expected model,tool,model: ${JSON.stringify(steps)}`,
    );
  return types;
}

async function phase(kind, toolUrl) {
  const { api, close } = await startBenchService(toolUrl);
  const agentBody = { name: `bench-${kind}`, model: "simulated/echo" };
  if (kind === "tool") Object.assign(agentBody, { tools: [toolSpec(toolUrl)], max_steps: 3 });
  const agent = (await api("POST", "/agents", agentBody)).data;
  await api("POST", `/agents/${agent.id}/publish`);
  const bodies = (count, prefix) =>
    Array.from({ length: Math.ceil(count / PER_BATCH) }, (_, b) => ({
      agent_id: agent.id,
      requests: Array.from({ length: Math.min(PER_BATCH, count - b * PER_BATCH) }, (_, i) => ({
        custom_id: `${prefix}-${b * PER_BATCH + i}`,
        message: `${prefix} ${b * PER_BATCH + i}: where is my order?`,
      })),
    }));
  let batchesSoFar = 0;
  const ids = [];
  const runBatches = async (payloads) => {
    for (const body of payloads) ids.push((await api("POST", "/batches", body)).data.id);
    batchesSoFar += payloads.length;
    for (;;) {
      const page = await api("GET", "/batches?status=completed&limit=1");
      if (page.pagination.total_records >= batchesSoFar) return;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  };
  await runBatches(bodies(WARMUP, "Warm-up"));
  const transcript = kind === "tool" ? await checkTranscript(api, ids[0], "Warm-up-7") : "model";
  const result = await measure(ITEMS, () => runBatches(bodies(ITEMS, "Question")));
  let succeeded = 0;
  let failed = 0;
  for (const b of (await api("GET", "/batches?limit=1000")).data) {
    succeeded += b.completed_requests;
    failed += b.failed_requests;
  }
  await close();
  return { ...result, succeeded: succeeded - WARMUP, failed, steps_of_one_item: transcript };
}

// ---------------------------------------------------------------------------------------------
// Orchestrator

/** The loopback tool: answers every call with a small JSON object built from its arguments. */
async function startToolServer() {
  let calls = 0;
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      calls++;
      let args = {};
      try {
        args = JSON.parse(Buffer.concat(chunks).toString("utf8")).arguments ?? {};
      } catch {
        res.writeHead(400).end("not JSON");
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ order: args.order_id ?? "unknown", status: "shipped", eta_days: 2 }));
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}/lookup_order`,
    calls: () => calls,
    stop: () => server.close(),
  };
}

function runPhase(kind, toolUrl) {
  const child = spawn(
    process.execPath,
    [fileURLToPath(import.meta.url), "--phase", kind, "--tool-url", toolUrl],
    {
      cwd: root,
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  let out = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (d) => {
    out += d;
  });
  return new Promise((ok, fail) => {
    child.on("error", fail);
    child.on("close", (code) =>
      code === 0
        ? ok(JSON.parse(out.trim().split("\n").at(-1)))
        : fail(new Error(`phase ${kind} exited ${code}`)),
    );
  });
}

async function main() {
  const phaseArg = process.argv.indexOf("--phase");
  if (phaseArg !== -1) {
    const toolUrl = process.argv[process.argv.indexOf("--tool-url") + 1];
    const result = await phase(process.argv[phaseArg + 1], toolUrl);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const tool = await startToolServer();
  const loadBefore = loadavg();
  try {
    const single = await runPhase("single", tool.url);
    const callsBefore = tool.calls();
    const withTool = await runPhase("tool", tool.url);
    const toolCalls = tool.calls() - callsBefore;
    const summary = {
      machine: {
        cpus: cpus().length,
        cpu_model: cpus()[0]?.model,
        node: process.version,
        platform: `${process.platform}-${process.arch}`,
        loadavg_before: loadBefore.map((l) => Math.round(l * 100) / 100),
        loadavg_after: loadavg().map((l) => Math.round(l * 100) / 100),
      },
      items: ITEMS,
      concurrency: CONCURRENCY,
      database: "sqlite",
      single,
      tool: { ...withTool, tool_calls_served: toolCalls, expected_tool_calls: ITEMS + WARMUP },
      ratio_tool_vs_single: Math.round((withTool.items_per_s / single.items_per_s) * 1000) / 1000,
      tool_cpu_ms_per_step: Math.round((withTool.cpu_ms_total / (STEPS_PER_TOOL_ITEM * ITEMS)) * 1000) / 1000,
      tool_peak_rss_mb: withTool.peak_rss_mb,
    };
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } finally {
    tool.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
