#!/usr/bin/env node
import { Command, InvalidArgumentError } from "commander";
import { loadConfig } from "../config/index.js";
import { VERSION } from "../domain/version.js";
import { registerClientCommands } from "./client-commands.js";
import { registerFilesCommands } from "./files-commands.js";
import { registerKeyCommands } from "./key-commands.js";

// The server side (Fastify, the store, the engine) is imported only by the commands that run it,
// so that the client commands (submit, status, results...) start in a fraction of the time.
const serverSide = () => import("../service.js");
const storeSide = async () => ({
  ...(await import("../store/index.js")),
  ...(await import("../server/auth.js")),
});

function int(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("expected a whole number");
  return n;
}

function float(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError("expected a number");
  return n;
}

/** Stops the service on SIGINT/SIGTERM, letting running items finish and handing back the rest. */
function stopOnSignals(close: () => Promise<void>): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    process.stderr.write(`\n${signal}: stopping (in-flight items finish; Ctrl-C again to force)\n`);
    close().then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`error while stopping: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}

const program = new Command();
program.name("agentbatch").description("Self-hosted Batch API for AI agents").version(VERSION);

program
  .command("serve")
  .description("run the HTTP API and a worker")
  .option("-p, --port <port>", "port to listen on", int)
  .option("--host <host>", "address to listen on (default 127.0.0.1)")
  .option("--db <url>", "database: sqlite:PATH or postgres://... (default sqlite:./data/agentbatch.db)")
  .option("--config <file>", "JSON config file (providers, engine, webhooks, prices)")
  .option("--no-worker", "serve the API only; items are run by `agentbatch worker` processes")
  .action(async (opts) => {
    const config = loadConfig({ port: opts.port, host: opts.host, db: opts.db, configFile: opts.config });
    const { startService } = await serverSide();
    const service = await startService(config, { api: true, worker: opts.worker });
    service.logger.info(
      {
        url: service.url,
        db: config.db.replace(/\/\/[^@]*@/, "//***@"),
        worker: opts.worker,
        engine_thread: service.engineThread,
      },
      "agentbatch listening",
    );
    stopOnSignals(() => service.close());
  });

program
  .command("worker")
  .description("run a worker only (no HTTP API)")
  .option("--db <url>", "database: sqlite:PATH or postgres://...")
  .option("--config <file>", "JSON config file")
  .action(async (opts) => {
    const config = loadConfig({ db: opts.db, configFile: opts.config });
    const { startService } = await serverSide();
    const service = await startService(config, { api: false, worker: true });
    service.logger.info({ owner: service.engine?.owner }, "agentbatch worker started");
    stopOnSignals(() => service.close());
  });

program
  .command("migrate")
  .description("create or upgrade the database schema, then exit")
  .option("--db <url>", "database: sqlite:PATH or postgres://...")
  .action(async (opts) => {
    const config = loadConfig({ db: opts.db });
    const { openStore } = await storeSide();
    const store = await openStore(config.db);
    await store.close();
    process.stdout.write("schema is up to date\n");
  });

registerFilesCommands(program);

registerKeyCommands(program);

program
  .command("demo")
  .description("serve with ./data and a published demo agent on the simulated model (what `npm start` runs)")
  .option("-p, --port <port>", "port to listen on", int)
  .option("--host <host>", "address to listen on")
  .option("--db <url>", "database (default sqlite:./data/agentbatch.db)")
  .option("--config <file>", "JSON config file")
  .action(async (opts) => {
    const config = loadConfig({ port: opts.port, host: opts.host, db: opts.db, configFile: opts.config });
    const { runDemo } = await import("./demo.js");
    const close = await runDemo(config);
    stopOnSignals(close);
  });

program
  .command("mock-llm")
  .description("an OpenAI-compatible simulated upstream for tests, demos and benchmarks")
  .option("-p, --port <port>", "port (0: any free port)", int, 8090)
  .option("--host <host>", "address to listen on", "127.0.0.1")
  .option("--latency-ms <ms>", "delay before each answer", int, 0)
  .option(
    "--latency-jitter-ms <ms>",
    "each answer's delay drawn uniformly within ±ms of --latency-ms (at most --latency-ms)",
    int,
    0,
  )
  .option("--rpm <n>", "requests per minute before answering 429", int)
  .option("--tpm <n>", "tokens per minute before answering 429", int)
  .option("--error-rate <f>", "share of requests answered with 500 (0..1)", float, 0)
  .option("--log <file>", "append every request to this JSONL file")
  .option("--backlog <n>", "the listen socket's accept queue (default Node's 511)", int)
  .action(async (opts, command: Command) => {
    if (opts.latencyJitterMs > opts.latencyMs) {
      command.error(
        `error: --latency-jitter-ms (${opts.latencyJitterMs}) must not exceed --latency-ms (${opts.latencyMs})`,
      );
    }
    // Imported on use, as demo is: a worker process starts faster without them.
    const { startMockLlm } = await import("../mock-llm/server.js");
    const mock = await startMockLlm({
      port: opts.port,
      host: opts.host,
      latencyMs: opts.latencyMs,
      latencyJitterMs: opts.latencyJitterMs,
      rpm: opts.rpm,
      tpm: opts.tpm,
      errorRate: opts.errorRate,
      logFile: opts.log,
      backlog: opts.backlog,
    });
    process.stdout.write(`mock-llm listening on ${mock.url}\n`);
    stopOnSignals(() => mock.close());
  });

registerClientCommands(program);

program.parseAsync().catch((err) => {
  process.stderr.write(`agentbatch: ${(err as Error).message}\n`);
  process.exit(1);
});
