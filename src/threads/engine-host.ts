import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { Worker } from "node:worker_threads";
import pino, { type Logger } from "pino";
import { type Config, ENGINE_THREAD_AUTO_CONCURRENCY } from "../config/index.js";
import type { Metrics, MetricsJson } from "../metrics/prometheus.js";
import { sqliteFile } from "../store/index.js";
import type { EngineThreadData, FromEngine, ToEngine } from "./messages.js";
import { ThreadLimiters } from "./remote-limiters.js";

/** A scrape waits at most this long for the engine thread's series, then renders without them. */
const METRICS_WAIT_MS = 2_000;
/**
 * After the grace, how long the engine thread may take to store its outcomes and close before it
 * is terminated: small, so that grace + margin stays within Docker's 10 s stop timeout that
 * `engine.shutdownGraceMs` is chosen for.
 */
const STOP_MARGIN_MS = 1_500;
/** setTimeout's longest delay; a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The engine thread as the API thread sees it. */
export interface EngineThread {
  /** The engine thread's limiters, for the API's chat turns. */
  limiters: ThreadLimiters;
  /**
   * Drains the engine (in-flight calls get `graceMs`) and the dispatcher, then ends the thread.
   * The engine thread's limiters keep serving the API's chat turns until `apiDrained` settles
   * (the API's own drain, run alongside), so a chat turn within its grace is not cut short.
   */
  stop(graceMs: number, apiDrained?: Promise<unknown>): Promise<void>;
}

/**
 * Whether the engine runs in a thread of its own: asked for (`engine.thread` "auto": an engine
 * concurrency of at least ENGINE_THREAD_AUTO_CONCURRENCY), one process doing both, a SQLite file.
 */
export function engineInThread({ engine, db }: Config, options: { api: boolean; worker: boolean }): boolean {
  const asked =
    engine.thread === "auto" ? engine.concurrency >= ENGINE_THREAD_AUTO_CONCURRENCY : engine.thread;
  return asked && options.api && options.worker && sqliteFile(db) !== null;
}

/**
 * V8's old generation grows by this much over what a full collection left live before the next
 * one (V8's own factor goes up to 4×). The engine thread's 10,000 calls in flight keep ~60 MB live
 * but promote each call's garbage (it lives the call's 2 s), so its heap grew to ~300–420 MB of
 * mostly garbage, beside the API thread's own heap: 1.5× keeps the process under 500 MB at the
 * cost of a few more full collections. The factor is process-wide and fixed: the API thread's
 * heap collects at 1.5× too (more often than V8 alone would with a large live heap, as it also
 * replaces V8's shrinking factors), and it stays set after the thread stops (src/threads/README.md).
 */
export const ENGINE_THREAD_HEAP_GROWING_PERCENT = 50;

/**
 * The V8 flag that fixes the heap's growth factor, or null if this process was started with its
 * own (`node --heap-growing-percent=N dist/cli/main.js serve`; Node refuses it in NODE_OPTIONS, and
 * `=0` gives V8 back its own factors): an operator's choice wins.
 */
export function heapGrowthFlag(execArgv: readonly string[] = process.execArgv): string | null {
  const given = execArgv.some((arg) => /^--?heap[-_]growing[-_]percent(=|$)/.test(arg));
  return given ? null : `--heap-growing-percent=${ENGINE_THREAD_HEAP_GROWING_PERCENT}`;
}

/** The built worker file beside this one; from the TypeScript sources (vitest), the one in dist/. */
function workerFile(): URL {
  const beside = new URL("./engine-main.js", import.meta.url);
  if (existsSync(fileURLToPath(beside))) return beside;
  return new URL("../../dist/threads/engine-main.js", import.meta.url);
}

/**
 * Starts the engine and the webhook dispatcher in a worker thread with its own SQLite connection
 * (`engine-main.ts`), resolved once they run. The thread's /metrics series join `metrics`' at
 * each scrape. If the thread dies other than by `stop`, the error is logged as fatal and thrown
 * out of this thread's event loop: a process whose engine is gone must not look healthy.
 */
export async function startEngineThread(
  config: Config,
  logger: Logger,
  metrics: Metrics,
): Promise<EngineThread> {
  const host = new EngineThreadHost(config, logger);
  await host.started();
  metrics.watchRemote(() => host.scrape());
  return host;
}

/**
 * The engine thread's log line, as it is, into the API thread's logger's stream; a logger with
 * no such stream (not pino's own) gets the line's fields logged at the line's level.
 */
export function writeEngineLog(logger: Logger, line: string): void {
  const stream = (logger as unknown as Record<symbol, pino.DestinationStream | undefined>)[
    pino.symbols.streamSym
  ];
  if (typeof stream?.write === "function") {
    stream.write(line);
    return;
  }
  let fields: Record<string, unknown>;
  try {
    fields = JSON.parse(line) as Record<string, unknown>;
  } catch {
    logger.info({ engine: line.trimEnd() }, "engine thread");
    return;
  }
  const { level, msg, time: _time, pid: _pid, hostname: _hostname, ...rest } = fields;
  const label = typeof level === "number" ? logger.levels?.labels?.[level] : undefined;
  const log =
    label && typeof logger[label as pino.Level] === "function" ? logger[label as pino.Level] : logger.info;
  log.call(logger, rest, typeof msg === "string" ? msg : "engine thread");
}

class EngineThreadHost implements EngineThread {
  private readonly worker: Worker;
  readonly limiters: ThreadLimiters;
  private readonly scrapes = new Map<number, (series: MetricsJson | null) => void>();
  /**
   * The engine thread's last series: a scrape it does not answer (slow, failed, stopped)
   * repeats them, since a counter missing from one scrape looks like a reset to Prometheus.
   */
  private lastSeries: MetricsJson | null = null;
  private nextScrape = 1;
  /**
   * running: its engine runs; stopping: `stop` drains it; stopped: it said it has closed (or
   * failed to start), so its exit is expected; dead: it crashed.
   */
  private state: "starting" | "running" | "stopping" | "stopped" | "dead" = "starting";
  private readonly ready: Promise<void>;
  private readonly ended: Promise<void>;

  constructor(
    config: Config,
    private readonly logger: Logger,
  ) {
    const data: EngineThreadData = { config, logLevel: logger.level };
    // Process-wide (V8's flags are): it applies to the API thread's heap as well, from now on.
    const flag = heapGrowthFlag();
    if (flag) setFlagsFromString(flag);
    this.worker = new Worker(workerFile(), { workerData: data });
    this.limiters = new ThreadLimiters((m) => this.post(m));
    let ready!: { resolve: () => void; reject: (err: Error) => void };
    this.ready = new Promise<void>((resolve, reject) => {
      ready = { resolve, reject };
    });
    let ended!: () => void;
    this.ended = new Promise<void>((r) => {
      ended = r;
    });
    this.worker.on("message", (m: FromEngine) => {
      if (m.t === "ready") ready.resolve();
      else if (m.t === "failed") ready.reject(Object.assign(new Error(m.message), { stack: m.stack }));
      else if (m.t === "granted" || m.t === "refused") this.limiters.answered(m);
      else if (m.t === "metrics") this.scrapes.get(m.id)?.(m.series);
      else if (m.t === "stopped") {
        if (this.state === "stopping") this.state = "stopped";
        ended();
      } else if (m.t === "log") writeEngineLog(this.logger, m.line);
    });
    this.worker.on("error", (err) => {
      ready.reject(err);
      this.died(err);
    });
    this.worker.on("exit", (code) => {
      ready.reject(new Error(`the engine thread exited (code ${code}) before its engine ran`));
      this.limiters.close();
      for (const answer of this.scrapes.values()) answer(null);
      ended();
      this.died(new Error(`the engine thread exited (code ${code})`));
    });
  }

  private post(message: ToEngine): void {
    if (this.state === "stopped" || this.state === "dead") return;
    this.worker.postMessage(message);
  }

  async started(): Promise<void> {
    try {
      await this.ready;
      this.state = "running";
    } catch (err) {
      this.state = "stopped";
      await this.worker.terminate();
      throw err;
    }
  }

  private died(err: Error): void {
    if (this.state === "stopping") {
      // Not fatal (the process is closing), but its outcomes may not all be stored.
      this.logger.error({ err }, "the engine thread failed while stopping");
      return;
    }
    if (this.state !== "running") return;
    this.state = "dead";
    this.logger.fatal({ err }, "the engine thread died");
    setImmediate(() => {
      throw err;
    });
  }

  /** The engine thread's series for one scrape, or null if it does not answer in time. */
  scrape(): Promise<MetricsJson | null> {
    return new Promise((resolve) => {
      if (this.state !== "running") return resolve(this.lastSeries);
      const id = this.nextScrape++;
      const timer = setTimeout(() => answer(null), METRICS_WAIT_MS);
      const answer = (series: MetricsJson | null) => {
        clearTimeout(timer);
        this.scrapes.delete(id);
        if (series) this.lastSeries = series;
        resolve(this.lastSeries);
      };
      this.scrapes.set(id, answer);
      this.post({ t: "metrics", id });
    });
  }

  async stop(graceMs: number, apiDrained: Promise<unknown> = Promise.resolve()): Promise<void> {
    if (this.state !== "running") return this.ended;
    this.state = "stopping";
    this.post({ t: "stop", graceMs });
    const tellDrained = () => this.post({ t: "api-drained" });
    apiDrained.then(tellDrained, tellDrained);
    const limitMs = Math.min(Math.max(0, graceMs) + STOP_MARGIN_MS, MAX_TIMER_MS);
    const cut = setTimeout(() => {
      this.logger.error({ graceMs }, "the engine thread did not stop in time: terminated");
      void this.worker.terminate();
    }, limitMs);
    await this.ended;
    clearTimeout(cut);
    this.limiters.close();
    await this.worker.terminate();
  }
}
