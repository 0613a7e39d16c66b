/**
 * Memory over time, by thread (diagnosis; bench/README.md, "Issue 17.3, RSS over time"). Loaded
 * into the measured process with node's `--require`, it runs in every thread (workers inherit the
 * flag): each writes a JSON line every RSS_SAMPLE_MS (1000) to RSS_SAMPLE_FILE, its V8 heap
 * (total, used, physical, by space: [used, physical] MB), and the main thread the process's
 * VmRSS / RssAnon / RssFile / RssShmem (MB). Options:
 *   RSS_SMAPS_AT=8,30   main thread: a copy of /proc/self/smaps at those seconds (FILE.smaps.S)
 *   RSS_SNAP_AT=8,40 RSS_SNAP_THREADS=main,w2   a heap snapshot of those threads at those seconds
 *   RSS_GC_EVERY=3      with --expose-gc: a full collection every 3rd sample (the live heap)
 *
 *   RSS_SAMPLE_FILE=/tmp/rss.jsonl BENCH_INFLIGHT_BARE=0 BENCH_ROUNDS=20 \
 *     BENCH_INFLIGHT_NODE_ARGS="--require $PWD/bench/rss-sampler.cjs" node bench/inflight.mjs
 *
 * Threads are named by threadId: at 10,000 in flight w1 is the API connection's WAL checkpointer
 * and w2 the engine thread. Off (nothing loaded) unless RSS_SAMPLE_FILE is set.
 */
const v8 = require("node:v8");
const fs = require("node:fs");
const wt = require("node:worker_threads");
const out = process.env.RSS_SAMPLE_FILE;
if (out) {
  const id = wt.isMainThread ? "main" : `w${wt.threadId}`;
  const t0 = Date.now();
  const snaps = (process.env.RSS_SNAP_AT ?? "").split(",").filter(Boolean).map(Number);
  const snapThreads = process.env.RSS_SNAP_THREADS ?? "";
  const status = () => {
    const s = fs.readFileSync("/proc/self/status", "utf8");
    const o = {};
    for (const k of ["VmRSS", "RssAnon", "RssFile", "RssShmem", "VmData"]) {
      const m = s.match(new RegExp(`${k}:\\s+(\\d+)`));
      if (m) o[k] = Math.round(Number(m[1]) / 1024);
    }
    return o;
  };
  const mb = (b) => Math.round((b / 1048576) * 10) / 10;
  const smapsAt = (process.env.RSS_SMAPS_AT ?? "").split(",").filter(Boolean).map(Number);
  const gcEvery = Number(process.env.RSS_GC_EVERY ?? 0);
  let n = 0;
  const sample = () => {
    n++;
    let gcMs;
    if (gcEvery && globalThis.gc && n % gcEvery === 0) {
      const g0 = performance.now();
      globalThis.gc();
      gcMs = Math.round(performance.now() - g0);
    }
    const h = v8.getHeapStatistics();
    const rec = {
      s: Math.round((Date.now() - t0) / 100) / 10,
      id,
      total: mb(h.total_heap_size),
      used: mb(h.used_heap_size),
      phys: mb(h.total_physical_size),
      malloced: mb(h.malloced_memory),
      ext: mb(h.external_memory),
      ctx: h.number_of_native_contexts,
      ...(gcMs !== undefined && { gcMs }),
      sp: Object.fromEntries(
        v8
          .getHeapSpaceStatistics()
          .map((x) => [
            x.space_name.replace("_space", ""),
            [mb(x.space_used_size), mb(x.physical_space_size)],
          ]),
      ),
    };
    if (wt.isMainThread) {
      Object.assign(rec, status());
      const m = process.memoryUsage();
      rec.ab = mb(m.arrayBuffers);
      rec.mext = mb(m.external);
    }
    fs.appendFileSync(out, `${JSON.stringify(rec)}\n`);
    if (wt.isMainThread && smapsAt.length && rec.s >= smapsAt[0]) {
      const at = smapsAt.shift();
      fs.writeFileSync(`${out}.smaps.${at}`, fs.readFileSync("/proc/self/smaps", "utf8"));
    }
    while (snaps.length && (Date.now() - t0) / 1000 >= snaps[0]) {
      const at = snaps.shift();
      if (snapThreads === "" || snapThreads.split(",").includes(id))
        v8.writeHeapSnapshot(`${out}.${id}.${at}.heapsnapshot`);
    }
  };
  const timer = setInterval(sample, Number(process.env.RSS_SAMPLE_MS ?? 1000));
  timer.unref();
}
