#!/usr/bin/env node
/**
 * File I/O benchmark: ingest of a batch input CSV and export of a batch's results as CSV and JSONL, at two
 * sizes (default 100,000 and 1,000,000 rows) to show that peak RSS stays flat while the row
 * count grows 10x (input is streamed into multi-row inserts; export streams keyset pages).
 *
 *   npm run bench:io
 *   BENCH_IO_ROWS=10000,100000 node bench/io.mjs
 *   BENCH_IO_EXPORT=0 BENCH_IO_ROWS=1000000 node bench/io.mjs   # ingest only (no results, no export)
 *   BENCH_IO_ROOT=/tmp/base node bench/io.mjs   # the build in /tmp/base/dist (a baseline, same session)
 *   BENCH_IO_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/ioprof" node bench/io.mjs   # node flags for the measured children
 *
 * Each size runs in fresh child processes (this file with --rows N, then --export) so that peak
 * RSS belongs to that size and phase alone. In the first child: the service in-process (HTTP API,
 * no engine, SQLite in a temp dir); a CSV of N rows is written to disk and uploaded (POST
 * /api/v1/files, streamed from disk) by a client process of its own (--upload), and turned into
 * a batch (POST /api/v1/batches with file_id),
 * timed from the create request to the batch leaving `validating` (the ingest runs in the
 * background, in chunked transactions). Then every item gets a result through the store (claim +
 * commit, the engine's path, not timed). The second child starts the service on the same
 * database file and reads GET /results?format=csv, then ?format=jsonl, to the end as streams, each
 * timed: filling a million results leaves ~100 MB more RSS in a process than the export ever uses,
 * which would otherwise be counted as the export's. Children run with --expose-gc and collect
 * their heap before each timed phase. Peak RSS is sampled every 20 ms (process.memoryUsage().rss)
 * during each timed phase; `at_peak` says, at that sample, the RSS at the phase's start, the V8
 * heap, external memory and (Linux) anonymous vs file-backed RSS. Prints one JSON object.
 */
import { spawn } from "node:child_process";
import { createWriteStream, mkdtempSync, openAsBlob, readFileSync, rmSync } from "node:fs";
import { get } from "node:http";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
/** Where the built service is read from: another build (e.g. a copy of the base's dist) to compare. */
const distRoot = resolve(process.env.BENCH_IO_ROOT ?? root);
const SIZES = (process.env.BENCH_IO_ROWS ?? "100000,1000000").split(",").map(Number);
const EXPORT = process.env.BENCH_IO_EXPORT !== "0";

const mb = (bytes) => Math.round((bytes / 1024 / 1024) * 10) / 10;

/**
 * Samples the process's memory every 20 ms; returns a function that stops and gives the peak RSS
 * and, at that sample, what V8 held (heap total and used) and the memory outside its heap
 * (`external`, of which `arrayBuffers`: Buffers).
 */
function rssSampler() {
  const start = process.memoryUsage().rss;
  let peak = process.memoryUsage();
  let kinds = rssKinds();
  const sample = () => {
    const m = process.memoryUsage();
    if (m.rss > peak.rss) {
      peak = m;
      kinds = rssKinds();
    }
  };
  const timer = setInterval(sample, 20);
  return () => {
    clearInterval(timer);
    sample();
    return {
      rss: mb(peak.rss),
      rss_at_start: mb(start),
      heap: { total: mb(peak.heapTotal), used: mb(peak.heapUsed) },
      external: mb(peak.external),
      array_buffers: mb(peak.arrayBuffers),
      ...kinds,
    };
  };
}

/** Linux: the resident memory by kind (anonymous: malloc and V8; file: mapped files, the binary). */
function rssKinds() {
  try {
    const status = readFileSync("/proc/self/status", "utf8");
    const kb = (name) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, "m"))?.[1] ?? Number.NaN);
    return {
      rss_anon: mb(kb("RssAnon") * 1024),
      rss_file: mb(kb("RssFile") * 1024),
      rss_shmem: mb(kb("RssShmem") * 1024),
    };
  } catch {
    return {};
  }
}

/** CPU time (user + system) of this process, in ms: robust to a machine shared with other work. */
function cpuMs(usage) {
  return (usage.user + usage.system) / 1000;
}

async function writeCsv(path, rows) {
  const out = createWriteStream(path);
  const write = (s) => (out.write(s) ? undefined : new Promise((r) => out.once("drain", r)));
  await write("Ref,Question,Who,Topic\n");
  let chunk = "";
  for (let i = 1; i <= rows; i++) {
    chunk += `ref-${i},"What is the capital of country number ${i}, and why?",user-${i % 1000},t-${i % 7}\n`;
    if (chunk.length > 1 << 16) {
      await write(chunk);
      chunk = "";
    }
  }
  await write(chunk);
  await new Promise((r) => out.end(r));
}

/** Uploads the input file (in the client process, `--upload`). */
async function upload(url, key, csvPath) {
  const form = new FormData();
  form.append("purpose", "batch_input");
  form.append("file", await openAsBlob(csvPath, { type: "text/csv" }), "input.csv");
  const up = await fetch(`${url}/api/v1/files`, {
    method: "POST",
    headers: { "x-api-key": key },
    body: form,
  });
  return (await up.json()).data;
}

/** The service on the bench's SQLite file in `dir` (API only, no engine). */
async function openService(dir) {
  const { loadConfig } = await import(join(distRoot, "dist/config/index.js"));
  const { startService, createLogger } = await import(join(distRoot, "dist/service.js"));
  const config = loadConfig({ port: 0, host: "127.0.0.1", db: `sqlite:${join(dir, "db.sqlite")}` }, {});
  return startService(config, { api: true, worker: false, logger: createLogger("warn") });
}

async function child(rows) {
  const { generateApiKey, registerApiKey } = await import(join(distRoot, "dist/server/auth.js"));
  const dir = mkdtempSync(join(tmpdir(), "agentbatch-bench-io-"));
  let keep = false;
  try {
    const service = await openService(dir);
    const key = generateApiKey();
    await registerApiKey(service.store, key);
    const call = async (method, path, body) => {
      const res = await fetch(`${service.url}${path}`, {
        method,
        headers: { "x-api-key": key, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = await res.json();
      if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
      return json.data;
    };
    const agent = await call("POST", "/api/v1/agents", { name: "bench", model: "simulated/echo" });
    await call("POST", `/api/v1/agents/${agent.id}/publish`);

    const csvPath = join(dir, "input.csv");
    // Written and uploaded by a client process of its own: the client's side of a 77 MB upload
    // (the file read into a form, the request's buffers) is not the service's memory.
    const file = await runChild(["--upload", csvPath, rows, service.url, key]);

    // Ingest: the create answers at once (`validating`); the rows are stored in the background
    // and the batch turns in_progress once the whole file is in. Timed from the create request
    // until then (polled every 50 ms).
    global.gc?.();
    const ingestRss = rssSampler();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const created = await call("POST", "/api/v1/batches", {
      agent_id: agent.id,
      file_id: file.id,
      column_mapping: {
        custom_id: "Ref",
        message: "Question",
        external_user_id: "Who",
        "context.topic": "Topic",
      },
    });
    let batch = created;
    while (batch.status === "validating") {
      await new Promise((r) => setTimeout(r, 50));
      batch = await call("GET", `/api/v1/batches/${created.id}`);
    }
    const ingestMs = performance.now() - t0;
    const ingestCpu = cpuMs(process.cpuUsage(c0));
    const ingestPeak = ingestRss();
    if (batch.total_requests !== rows) throw new Error(`expected ${rows} items, got ${batch.total_requests}`);
    const ingest = {
      ms: Math.round(ingestMs),
      rows_per_s: Math.round(rows / (ingestMs / 1000)),
      cpu_us_per_row: Math.round((ingestCpu * 10_000) / rows) / 10,
      peak_rss_mb: ingestPeak.rss,
      at_peak: ingestPeak,
    };
    const input_mb = Math.round((file.bytes / 1024 / 1024) * 10) / 10;
    if (!EXPORT) {
      await service.close(1000);
      return { rows, input_mb, ingest };
    }

    // Results for every item, through the store (the engine's claim + group commit), untimed.
    const store = service.store;
    for (;;) {
      const claimed = await store.items.claim("bench", 2000, 600_000, Date.now());
      if (claimed.length === 0) break;
      const outcomes = claimed.map((it) => ({
        kind: "success",
        itemId: it.id,
        batchId: it.batchId,
        leaseOwner: "bench",
        attempt: it.attempt,
        responseContent: `Echo: ${it.message}`,
        responseUsage: {
          tool_calls: [],
          total_calls: 1,
          total_tokens: 30,
          main_response: null,
          total_prompt_tokens: 20,
          total_completion_tokens: 10,
        },
        promptTokens: 20,
        completionTokens: 10,
        cost: 0,
        responseTimeMs: 1,
        workspaceId: it.workspaceId,
        agentId: it.agentId,
        message: it.message,
        chatName: it.name,
        externalUserId: it.externalUserId,
        historyId: it.historyId,
      }));
      await store.items.commit(outcomes, Date.now());
    }

    await service.close(1000);
    // The exports run in a fresh process on the same database file (exportChild), so that their
    // peak RSS is their own, not what filling a million results left in this one.
    keep = EXPORT;
    return { rows, input_mb, ingest, dir, batch_id: batch.id, key };
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

/** Exports the results of the batch that `child` left in `dir`, as CSV, then as JSONL. */
async function exportChild(dir, batchId, key, rows) {
  const service = await openService(dir);
  // Exports: CSV, then JSONL, each read to the end as it streams (counting lines, holding nothing).
  const exportAs = async (format) => {
    global.gc?.();
    const rss = rssSampler();
    const c = process.cpuUsage();
    const t = performance.now();
    // A connection of its own (agent: false): a keep-alive socket reused after a long export
    // was reset by the server.
    const res = await new Promise((resolveRes, rejectRes) => {
      const url = `${service.url}/api/v1/batches/${batchId}/results?format=${format}`;
      get(url, { headers: { "x-api-key": key }, agent: false }, resolveRes).on("error", rejectRes);
    });
    if (res.statusCode !== 200) throw new Error(`${format} export: HTTP ${res.statusCode}`);
    let lines = 0;
    let bytes = 0;
    for await (const chunk of res) {
      bytes += chunk.length;
      // indexOf, not a loop over every byte: that loop ran in this process and cost ~1.3 s of
      // CPU for a 496 MB JSONL export (~1.3 µs per row counted as the export's).
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
    }
    const ms = performance.now() - t;
    const cpu = cpuMs(process.cpuUsage(c));
    const peak = rss();
    const dataLines = format === "csv" ? lines - 1 : lines;
    if (dataLines < rows) throw new Error(`${format} export had ${dataLines} lines for ${rows} rows`);
    return {
      ms: Math.round(ms),
      rows_per_s: Math.round(rows / (ms / 1000)),
      cpu_us_per_row: Math.round((cpu * 10_000) / rows) / 10,
      mb: Math.round((bytes / 1024 / 1024) * 10) / 10,
      peak_rss_mb: peak.rss,
      at_peak: peak,
    };
  };
  try {
    const export_csv = await exportAs("csv");
    const export_jsonl = await exportAs("jsonl");
    return { export_csv, export_jsonl };
  } finally {
    await service.close(1000);
  }
}

/** Runs this file in a child process with `args`; resolves to the JSON it printed last. */
function runChild(args) {
  return new Promise((resolvePromise, reject) => {
    // --expose-gc: each timed phase starts from a collected heap, so its peak RSS is its own and
    // not the garbage of the untimed work before it (writing the CSV, filling the results).
    const nodeArgs = (process.env.BENCH_IO_NODE_ARGS ?? "").split(" ").filter(Boolean);
    const p = spawn(
      process.execPath,
      ["--expose-gc", ...nodeArgs, fileURLToPath(import.meta.url), ...args.map(String)],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    let out = "";
    p.stdout.on("data", (d) => {
      out += d;
    });
    p.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`bench child ${args.join(" ")} exited with ${code}`));
      resolvePromise(JSON.parse(out.trim().split("\n").pop()));
    });
  });
}

/** One size: ingest (and results) in one child, then the exports in another on the same file. */
async function runSize(rows) {
  const { dir, batch_id, key, ...run } = await runChild(["--rows", rows]);
  if (!EXPORT) return { ...run, export_csv: null, export_jsonl: null };
  try {
    return { ...run, ...(await runChild(["--export", dir, batch_id, key, rows])) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const at = process.argv.indexOf("--rows");
const exportAt = process.argv.indexOf("--export");
if (at !== -1) {
  console.log(JSON.stringify(await child(Number(process.argv[at + 1]))));
} else if (process.argv.includes("--upload")) {
  const [csvPath, rows, url, key] = process.argv.slice(process.argv.indexOf("--upload") + 1);
  await writeCsv(csvPath, Number(rows));
  console.log(JSON.stringify(await upload(url, key, csvPath)));
} else if (exportAt !== -1) {
  const [dir, batchId, key, rows] = process.argv.slice(exportAt + 1);
  console.log(JSON.stringify(await exportChild(dir, batchId, key, Number(rows))));
} else {
  const runs = [];
  for (const rows of SIZES) runs.push(await runSize(rows));
  const first = runs[0];
  const last = runs[runs.length - 1];
  console.log(
    JSON.stringify(
      {
        machine: {
          cpus: cpus().length,
          cpu: cpus()[0]?.model,
          mem_gb: Math.round(totalmem() / 2 ** 30),
          node: process.version,
        },
        store: "sqlite",
        build: distRoot,
        load_average: loadavg().map((l) => Math.round(l * 100) / 100),
        runs,
        growth: {
          rows: last.rows / first.rows,
          ingest_peak_rss: Math.round((last.ingest.peak_rss_mb / first.ingest.peak_rss_mb) * 100) / 100,
          export_csv_peak_rss: EXPORT
            ? Math.round((last.export_csv.peak_rss_mb / first.export_csv.peak_rss_mb) * 100) / 100
            : null,
          export_jsonl_peak_rss: EXPORT
            ? Math.round((last.export_jsonl.peak_rss_mb / first.export_jsonl.peak_rss_mb) * 100) / 100
            : null,
        },
      },
      null,
      2,
    ),
  );
}
