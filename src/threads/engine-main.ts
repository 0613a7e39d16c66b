/**
 * The engine thread's entry (`engine-host.ts` starts it): opens its own connection to the
 * service's SQLite file, runs the engine and the webhook dispatcher, answers the API thread's
 * permit requests and /metrics scrapes, and drains on `stop`.
 */
import { parentPort, workerData } from "node:worker_threads";
import { closeCore, createLogger, openCore, startWorker, stopWorker } from "../service.js";
import type { EngineThreadData, FromEngine, ToEngine } from "./messages.js";
import { LimiterServer } from "./remote-limiters.js";

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error("engine-main.ts runs as a worker thread (src/threads/engine-host.ts)");
  const { config, logLevel } = workerData as EngineThreadData;
  const post = (m: FromEngine) => port.postMessage(m);
  // One log stream for the process: the lines go to the API thread's logger's destination.
  const logger = createLogger(logLevel, { write: (line: string) => post({ t: "log", line }) }).child({
    thread: "engine",
  });
  try {
    const core = await openCore(config, logger, { threads: true, engineThread: true });
    const worker = startWorker(core);
    const limiters = new LimiterServer(core.limiters, post);
    // The API's chat turns keep their permits (and get new ones) until the API has drained,
    // however soon the engine's own drain ends.
    let apiDrained!: () => void;
    const drained = new Promise<void>((r) => {
      apiDrained = r;
    });
    port.on("message", (m: ToEngine) => {
      if (m.t === "metrics") {
        core.metrics.engineSeries().then(
          (series) => post({ t: "metrics", id: m.id, series }),
          (err) => {
            logger.warn({ err }, "the engine thread's metrics could not be read");
            post({ t: "metrics", id: m.id, series: null });
          },
        );
      } else if (m.t === "api-drained") {
        apiDrained();
      } else if (m.t === "stop") {
        stopWorker(worker, m.graceMs)
          .then(() => drained)
          .then(() => limiters.close())
          .then(() => closeCore(core))
          .catch((err) => logger.error({ err }, "the engine thread did not close cleanly"))
          .finally(() => post({ t: "stopped" }));
      } else {
        limiters.handle(m);
      }
    });
    post({ t: "ready" });
  } catch (err) {
    const e = err as Error;
    post({ t: "failed", message: e.message, stack: e.stack });
  }
}

void main();
