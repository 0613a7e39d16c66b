#!/usr/bin/env node
/**
 * Issue 17's points in one run: each of the benches below in a child process of its own, one after
 * the other (never two at once: they share the machine's 2 cores), and every aim of the issue
 * read from their JSON beside its target, whether it is met, and the same run's bare-loop
 * ceiling where the bench has one (the absolute aims at 50 ms and at 10,000 in flight are bounded
 * by the upstream mock and the machine as much as by agentbatch: the bare loop says by how much).
 *
 *   npm run build && node bench/standing.mjs
 *   BENCH_STANDING_ONLY=17.1,17.5 node bench/standing.mjs   # only those points
 *   BENCH_STANDING_ROOT=/tmp/base node bench/standing.mjs   # the build in /tmp/base/dist
 *   BENCH_STANDING_REPEAT=3 node bench/standing.mjs         # every bench 3 times, each point's median
 *   BENCH_STANDING_BESIDE=0 node bench/standing.mjs         # without the runs read `beside`
 *
 * | point | bench                                                        | read                                 |
 * | ----- | ------------------------------------------------------------ | ------------------------------------ |
 * | 17.1  | peers.mjs, agentbatch on PostgreSQL + graphile-worker, 0 ms  | items/s ratio (≥ 1.5), PG CPU/item   |
 * | 17.1  | peers.mjs, agentbatch on SQLite + PostgreSQL, 50 ms          | of C/latency (≥ 0.95 each)           |
 * | 17.2  | (the same run)                                               |                                      |
 * |       | the same at 50 ± 15 ms (`beside`, not counted)               | of C/latency                         |
 * | 17.3  | inflight.mjs, 10,000 in flight, 2 s, 10 rounds               | rate (≥ 0.9), RSS (< 500), GET p99   |
 * | 17.4  | io.mjs, 100,000 and 1,000,000 rows                           | rows/s (≥ 100k), RSS (< 250), growth |
 * | 17.5  | throughput.mjs, zero latency and the simulated model         | mock / bare (≥ 0.5), CPU (≤ 0.05)    |
 * |       | the same after 10,000 items of warm-up (`beside`)            | the same                             |
 * | 17.6  | scaleout.mjs, 1 / 2 / 4 workers on PostgreSQL                | 4 workers / 1 (≥ 3.6)                |
 *
 * 17.3 runs 10 rounds (100,000 items), not the bench's default 3: over 3 rounds the first round's
 * 10,000 new connections weigh a third of the run and bound any client (bench/README.md, "Where
 * issue 17 stands"). 17.4's "other workspaces answered meanwhile" is a test, not a bench
 * (test/integration/ingest-isolation.test.ts). Prints one JSON object: `points` (one entry per
 * aim: `point`, `aim`, `target`, `value`, `met`, and `ceiling` where the same run has a bare loop),
 * `met` (how many of how many), `beside` (read the same way but not counted: the 50 ms points
 * with each answer's time spread by ±15 ms, `BENCH_MOCK_JITTER_MS`, where a fixed latency's waves
 * of answers are gone; and 17.5 after 10,000 items of warm-up instead of 1,000, V8's one-time
 * compiling mostly past; the counted runs always run on a fixed latency and the default warm-up, whatever the shell sets),
 * and `runs` (each bench's own JSON, for the figures not read here).
 * With `BENCH_STANDING_REPEAT=N` the whole set runs N times over (pass after pass, so a drift of
 * the machine's speed touches every bench alike); each point is then the run with its median
 * value (the lower of the middle two for an even N), with every pass's value in `values`, and
 * `runs` holds each bench's N JSONs: one run of a 50 ms point on a 2-core machine can land
 * 0.2 under its neighbours (bench/README.md, "Issue 17.3, the pools' walk").
 * Needs PostgreSQL and Redis as peers.mjs and scaleout.mjs do.
 */
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { root as here, spawnNode } from "./lib.mjs";

/** The points to run; unset, all of them. */
const ONLY = (process.env.BENCH_STANDING_ONLY ?? "").split(",").filter(Boolean);
/** Another build's directory (its `dist/` is measured), passed to each bench as its own root option. */
const ROOT = process.env.BENCH_STANDING_ROOT ? resolve(process.env.BENCH_STANDING_ROOT) : null;
/** `BENCH_STANDING_BESIDE=0` skips the runs read beside the points (not counted). */
const BESIDE = process.env.BENCH_STANDING_BESIDE !== "0";
/** How many times the whole set runs; each point is then its median run. */
const REPEAT = Number(process.env.BENCH_STANDING_REPEAT ?? 1);
if (!Number.isInteger(REPEAT) || REPEAT < 1) {
  process.stderr.write(
    `BENCH_STANDING_REPEAT must be a whole number >= 1, not "${process.env.BENCH_STANDING_REPEAT}"\n`,
  );
  process.exit(2);
}

/**
 * Each bench run: which points it serves, its file and environment, the variable through which it
 * measures another build (`BENCH_STANDING_ROOT`), and how its JSON becomes points.
 */
const RUNS = [
  {
    name: "peers_0ms",
    points: ["17.1"],
    file: "peers.mjs",
    env: { BENCH_SYSTEMS: "agentbatch_postgres,graphile_worker", BENCH_LATENCIES: "0" },
    rootEnv: "BENCH_ROOT",
    read: (j) => {
      const r = j.runs.latency_0ms;
      return [
        point(
          "17.1",
          "PostgreSQL / graphile-worker items/s, 0 ms",
          ">= 1.5",
          j.agentbatch_postgres_vs_graphile_worker.latency_0ms,
          (v) => v >= 1.5,
          {
            agentbatch_postgres_items_per_s: r.agentbatch_postgres.items_per_s,
            graphile_worker_items_per_s: r.graphile_worker.items_per_s,
            postgres_cpu_ms_per_item: r.agentbatch_postgres.postgres_cpu_ms_per_item,
            graphile_worker_postgres_cpu_ms_per_item: r.graphile_worker.postgres_cpu_ms_per_item,
          },
        ),
      ];
    },
  },
  {
    name: "peers_50ms",
    points: ["17.1", "17.2"],
    file: "peers.mjs",
    env: { BENCH_SYSTEMS: "agentbatch_sqlite,agentbatch_postgres", BENCH_LATENCIES: "50" },
    rootEnv: "BENCH_ROOT",
    read: (j) => {
      const r = j.runs.latency_50ms;
      const ceiling = r.bare.ratio_to_ideal;
      return [
        point(
          "17.1",
          "PostgreSQL at 50 ms, of C/latency",
          ">= 0.95",
          r.agentbatch_postgres.ratio_to_ideal,
          (v) => v >= 0.95,
          {
            ceiling,
            ratio_to_bare: r.agentbatch_postgres.ratio_to_bare,
            postgres_cpu_ms_per_item: r.agentbatch_postgres.postgres_cpu_ms_per_item,
          },
        ),
        point(
          "17.2",
          "SQLite at 50 ms, of C/latency",
          ">= 0.95",
          r.agentbatch_sqlite.ratio_to_ideal,
          (v) => v >= 0.95,
          {
            ceiling,
            ratio_to_bare: r.agentbatch_sqlite.ratio_to_bare,
          },
        ),
      ];
    },
  },
  {
    // Beside the points, not counted: the same at 50 ± 15 ms (the same mean, so the same
    // C/latency), where answers no longer come back in waves (bench/README.md, "Issue 17 on an
    // AMD EPYC machine").
    name: "peers_50ms_spread",
    points: ["17.1", "17.2"],
    beside: true,
    file: "peers.mjs",
    env: {
      BENCH_SYSTEMS: "agentbatch_sqlite,agentbatch_postgres",
      BENCH_LATENCIES: "50",
      BENCH_MOCK_JITTER_MS: "15",
    },
    rootEnv: "BENCH_ROOT",
    read: (j) => {
      const r = j.runs.latency_50ms;
      const context = (system) => ({
        ceiling: r.bare.ratio_to_ideal,
        ratio_to_bare: r[system].ratio_to_bare,
      });
      return [
        point(
          "17.1",
          "PostgreSQL at 50 ± 15 ms, of C/latency",
          ">= 0.95",
          r.agentbatch_postgres.ratio_to_ideal,
          (v) => v >= 0.95,
          context("agentbatch_postgres"),
        ),
        point(
          "17.2",
          "SQLite at 50 ± 15 ms, of C/latency",
          ">= 0.95",
          r.agentbatch_sqlite.ratio_to_ideal,
          (v) => v >= 0.95,
          context("agentbatch_sqlite"),
        ),
      ];
    },
  },
  {
    name: "inflight",
    points: ["17.3"],
    file: "inflight.mjs",
    env: { BENCH_ROUNDS: "10" },
    rootEnv: "BENCH_INFLIGHT_ROOT",
    read: (j) => [
      point(
        "17.3",
        "10,000 in flight at 2 s, 10 rounds, of C/latency",
        ">= 0.9",
        j.ratio_to_ideal,
        (v) => v >= 0.9,
        {
          ceiling: j.bare?.ratio_to_ideal ?? null,
          middle_third: j.middle_third_ratio,
          middle_third_ceiling: j.bare?.middle_third_ratio ?? null,
          ratio_to_bare: j.ratio_to_bare ?? null,
        },
      ),
      point("17.3", "peak RSS at 10,000 in flight, MB", "< 500", j.peak_rss_mb, (v) => v < 500),
      point(
        "17.3",
        "GET /api/v1/batches/{id} p99 while saturated, ms",
        "< 25",
        j.get_batch_probe_ms.p99,
        (v) => v < 25,
      ),
    ],
  },
  {
    name: "io",
    points: ["17.4"],
    file: "io.mjs",
    env: { BENCH_IO_ROWS: "100000,1000000" },
    rootEnv: "BENCH_IO_ROOT",
    read: (j) => {
      const million = j.runs.find((r) => r.rows === 1_000_000);
      const fast = (v) => v >= 100_000;
      return [
        point("17.4", "1M-row CSV ingest, rows/s", ">= 100000", million.ingest.rows_per_s, fast),
        point("17.4", "1M-row CSV export, rows/s", ">= 100000", million.export_csv.rows_per_s, fast),
        point("17.4", "1M-row JSONL export, rows/s", ">= 100000", million.export_jsonl.rows_per_s, fast),
        point(
          "17.4",
          "peak RSS at 1M rows (ingest, CSV, JSONL), MB",
          "< 250",
          Math.max(
            million.ingest.peak_rss_mb,
            million.export_csv.peak_rss_mb,
            million.export_jsonl.peak_rss_mb,
          ),
          (v) => v < 250,
          { growth_over_ten_fold_rows: j.growth },
        ),
      ];
    },
  },
  {
    name: "throughput",
    points: ["17.5"],
    file: "throughput.mjs",
    env: { BENCH_TRACED: "0" },
    rootEnv: "BENCH_ROOT",
    read: (j) => throughputPoints(j, ""),
  },
  {
    // Beside the points, not counted: the same after 10,000 items of warm-up, where V8 has
    // compiled the hot paths before the timed span (bench/README.md, "Issue 17.5, warm-up").
    name: "throughput_steady",
    points: ["17.5"],
    beside: true,
    file: "throughput.mjs",
    env: { BENCH_TRACED: "0", BENCH_WARMUP: "10000" },
    rootEnv: "BENCH_ROOT",
    read: (j) => throughputPoints(j, ", after 10,000 of warm-up"),
  },
  {
    name: "scaleout",
    points: ["17.6"],
    file: "scaleout.mjs",
    env: { BENCH_ONLY: "scaling" },
    rootEnv: "BENCH_ROOT",
    read: (j) => {
      const four = j.scaling.find((r) => r.workers === 4);
      return [
        point(
          "17.6",
          "4 workers / 1 worker, latency-bound upstream",
          ">= 3.6",
          four.ratio_to_1,
          (v) => v >= 3.6,
          {
            items_per_s: Object.fromEntries(j.scaling.map((r) => [r.workers, r.items_per_s])),
          },
        ),
      ];
    },
  },
];

/** 17.5's two points from a throughput.mjs run; `suffix` ends each aim (the beside run's warm-up). */
function throughputPoints(j, suffix) {
  return [
    point(
      "17.5",
      `zero latency, agentbatch / bare loop items/s${suffix}`,
      ">= 0.5",
      j.ratio_mock_vs_baseline,
      (v) => v >= 0.5,
      {
        bare_items_per_s: j.baseline.items_per_s,
        agentbatch_items_per_s: j.agentbatch_mock.items_per_s,
        agentbatch_cpu_ms_per_item: j.agentbatch_mock.cpu_ms_per_item,
        warmup: j.warmup,
      },
    ),
    point(
      "17.5",
      `simulated model, CPU ms per item${suffix}`,
      "<= 0.05",
      j.agentbatch_simulated.cpu_ms_per_item,
      (v) => v <= 0.05,
      {
        warmup: j.warmup,
      },
    ),
  ];
}

function point(id, aim, target, value, ok, context = {}) {
  return { point: id, aim, target, value, met: ok(value), ...context };
}

/** One bench run: its JSON (or its error) and the points read from it. */
async function runOnce(run, pass) {
  // A counted point is measured on the issue's fixed latencies and the benches' own warm-up
  // whatever the shell has set (an empty BENCH_MOCK_JITTER_MS or BENCH_WARMUP is unset for the
  // benches); only the `beside` runs set one.
  const env = {
    ...process.env,
    BENCH_MOCK_JITTER_MS: "",
    BENCH_WARMUP: "",
    ...run.env,
    ...(ROOT ? { [run.rootEnv]: ROOT } : {}),
  };
  const t0 = Date.now();
  const label = REPEAT > 1 ? `${run.name} (${pass + 1} of ${REPEAT})` : run.name;
  process.stderr.write(`${label}: running\n`);
  try {
    const out = await spawnNode([join(here, "bench", run.file)], { env }).done;
    const json = JSON.parse(out.slice(out.indexOf("{")));
    return { json, points: run.read(json) };
  } catch (err) {
    // A bench that fails is reported as such: its points are not met, and the others still run.
    const points = run.points.map((id) => ({ point: id, aim: `${run.name} failed`, met: false }));
    return { json: { error: String(err.message ?? err) }, points };
  } finally {
    process.stderr.write(`${label}: ${Math.round((Date.now() - t0) / 1000)} s\n`);
  }
}

/**
 * One point from its passes: the pass with the median value (the lower middle for an even count),
 * every pass's value beside it. A pass that read no number for it makes the point that pass's
 * reading (`passes`: how many passes gave the point). A bench that failed in a pass adds its own
 * unmet "failed" points, matched across passes like any other.
 */
function medianPoint(passes) {
  const measured = passes.filter((p) => typeof p.value === "number").sort((a, b) => a.value - b.value);
  if (measured.length < passes.length)
    return { ...passes.find((p) => typeof p.value !== "number"), passes: passes.length };
  const median = measured[Math.floor((measured.length - 1) / 2)];
  return { ...median, values: passes.map((p) => p.value) };
}

async function main() {
  const started = Date.now();
  const selected = RUNS.filter(
    (run) => (ONLY.length === 0 || run.points.some((p) => ONLY.includes(p))) && !(run.beside && !BESIDE),
  );
  const results = new Map(selected.map((run) => [run.name, []]));
  for (let pass = 0; pass < REPEAT; pass++)
    for (const run of selected) results.get(run.name).push(await runOnce(run, pass));
  const counted = [];
  const beside = [];
  const runs = {};
  for (const run of selected) {
    const passes = results.get(run.name);
    const points = run.beside ? beside : counted;
    runs[run.name] = REPEAT === 1 ? passes[0].json : passes.map((r) => r.json);
    if (REPEAT === 1) {
      points.push(...passes[0].points);
      continue;
    }
    // Each point's passes, matched by point and aim, in the order the first pass gave them.
    const byKey = new Map();
    for (const r of passes)
      for (const p of r.points) {
        const key = `${p.point}|${p.aim}`;
        if (!byKey.has(key)) byKey.set(key, []);
        byKey.get(key).push(p);
      }
    for (const list of byKey.values()) points.push(medianPoint(list));
  }
  const summary = {
    machine: {
      cpus: cpus().length,
      cpu: cpus()[0]?.model,
      node: process.version,
      loadavg_1m_at_end: loadavg()[0],
    },
    build: ROOT ?? here,
    repeat: REPEAT,
    seconds: Math.round((Date.now() - started) / 1000),
    met: `${counted.filter((p) => p.met).length} of ${counted.length}`,
    points: counted,
    beside,
    runs,
  };
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
