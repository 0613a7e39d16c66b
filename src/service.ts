/**
 * The composition root: opens the store, builds the providers, the engine and the HTTP app,
 * and wires them together. The CLI and the tests start agentbatch through here.
 */
import pino, { type Logger } from "pino";
import { type Config, defaultEngineConfig } from "./config/index.js";
import { Engine } from "./engine/engine.js";
import { SharedSignals } from "./engine/shared-signals.js";
import { LocalSignals, type Signals } from "./engine/signals.js";
import { loadAttachments } from "./files/attachments.js";
import { FileStorage } from "./files/storage.js";
import { Metrics } from "./metrics/prometheus.js";
import { LimiterRegistry } from "./providers/rate-limiter.js";
import { ProviderRegistry } from "./providers/registry.js";
import type { App } from "./server/app.js";
import { KeyResolver, registerApiKey } from "./server/auth.js";
import type { OpenAIOutputWriter } from "./server/batch-apis/openai-output.js";
import type { IngestRunner } from "./server/ingest-runner.js";
import { openStore } from "./store/index.js";
import type { Store } from "./store/types.js";
import { startTracing, type Tracing } from "./tracing/setup.js";
import { WebhookDispatcher } from "./webhooks/dispatcher.js";

export interface ServiceOptions {
  /** Serve the HTTP API. */
  api: boolean;
  /** Run the engine (claim and run items). */
  worker: boolean;
  logger?: Logger;
}

export interface Service {
  config: Config;
  store: Store;
  signals: Signals;
  engine: Engine | null;
  /** Sends webhook deliveries; runs beside the engine unless `webhooks.dispatch` is off. */
  dispatcher: WebhookDispatcher | null;
  app: App | null;
  providers: ProviderRegistry;
  /** The base URL the API listens on, once listening. */
  url: string | null;
  logger: Logger;
  close(graceMs?: number): Promise<void>;
}

/** The JSON logger (stdout unless `destination` is given, e.g. a test capturing lines). */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: "agentbatch" },
    // Keys and secrets never reach the log, wherever a log object carries them (one level deep).
    redact: {
      paths: [
        "req.headers['x-api-key']",
        "req.headers.authorization",
        "*.apiKey",
        "*.api_key",
        "*.secret",
        "*.headers.authorization",
        "*.headers['x-api-key']",
      ],
      censor: "[redacted]",
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** The idle poll of a PostgreSQL worker; notifications wake it sooner. */
const POSTGRES_POLL_INTERVAL_MS = 2000;

/** In-process signals; on PostgreSQL they also cross processes through LISTEN/NOTIFY. */
async function openSignals(store: Store, logger: Logger): Promise<Signals> {
  const broadcast = await store.openBroadcast((err) =>
    logger.warn({ err }, "LISTEN connection lost; reconnecting"),
  );
  if (!broadcast) return new LocalSignals();
  return new SharedSignals(broadcast, (err) => logger.warn({ err }, "NOTIFY failed"));
}

/** What every process opens, whatever it runs: the store, signals, providers, files, limits, metrics. */
interface Core {
  config: Config;
  logger: Logger;
  store: Store;
  signals: Signals;
  providers: ProviderRegistry;
  files: FileStorage;
  limiters: LimiterRegistry;
  metrics: Metrics;
  engineConfig: Config["engine"];
  tracing: Tracing;
}

async function openCore(config: Config, logger: Logger): Promise<Core> {
  const tracing = await startTracing(config.tracing, logger);
  const store = await openStore(config.db);
  const signals = await openSignals(store, logger);
  const engineConfig = { ...config.engine };
  // Notifications (LISTEN/NOTIFY) wake idle workers, so their fallback poll can be slow.
  if (store.capabilities.broadcast && engineConfig.pollIntervalMs === defaultEngineConfig.pollIntervalMs) {
    engineConfig.pollIntervalMs = POSTGRES_POLL_INTERVAL_MS;
  }
  const providers = new ProviderRegistry(config.providers, { timeoutMs: config.engine.requestTimeoutMs });
  if (config.bootstrapApiKey) await registerApiKey(store, config.bootstrapApiKey);
  const files = new FileStorage({
    dataDir: config.dataDir,
    backend: config.files.backend,
    blobs: store.blobs,
    s3: config.files.s3,
  });
  // One set of per-upstream limits for the engine's items and the API's interactive chat turns.
  const limiters = new LimiterRegistry((p) => providers.limitsFor(p), engineConfig.concurrency);
  const metrics = new Metrics(store);
  return { config, logger, store, signals, providers, files, limiters, metrics, engineConfig, tracing };
}

/** The engine and the webhook dispatcher of a process that runs items. */
function startWorker(core: Core): { engine: Engine; dispatcher: WebhookDispatcher | null } {
  const { store, files, metrics, config } = core;
  const engine = new Engine({
    store,
    providers: core.providers,
    signals: core.signals,
    config: core.engineConfig,
    prices: config.prices,
    logger: core.logger,
    attachments: (workspaceId, fileIds) => loadAttachments(store, files, workspaceId, fileIds),
    limiters: core.limiters,
    metrics: metrics.engine,
  });
  metrics.watchEngine(() => engine.stats());
  engine.start();
  let dispatcher: WebhookDispatcher | null = null;
  if (config.webhooks.dispatch) {
    dispatcher = new WebhookDispatcher({
      store,
      signals: core.signals,
      config: config.webhooks,
      logger: core.logger,
    });
    dispatcher.start();
  }
  return { engine, dispatcher };
}

/** The HTTP API, listening, and the writer of OpenAI output files that runs in every API process. */
async function startApi(
  core: Core,
): Promise<{ app: App; url: string; openAIOutput: OpenAIOutputWriter; ingests: IngestRunner }> {
  // Loaded only by API nodes: a worker process starts faster without the HTTP stack.
  const { buildApp } = await import("./server/app.js");
  const { OpenAIOutputWriter } = await import("./server/batch-apis/openai-output.js");
  const { IngestRunner } = await import("./server/ingest-runner.js");
  const { store, files, signals, logger, config } = core;
  const openAIOutput = new OpenAIOutputWriter(store, files, signals, logger);
  const ingests = new IngestRunner(store, signals, logger);
  const ctx = {
    store,
    signals,
    config,
    keys: new KeyResolver(store),
    providers: core.providers,
    files,
    limiters: core.limiters,
    metrics: core.metrics,
    openAIOutput,
    ingests,
  };
  const app = await buildApp(ctx, logger);
  const address = await app.listen({ port: config.port, host: config.host });
  openAIOutput.start();
  ingests.start();
  return { app, url: address.replace("[::1]", "localhost"), openAIOutput, ingests };
}

export async function startService(config: Config, options: ServiceOptions): Promise<Service> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const core = await openCore(config, logger);
  const worker = options.worker ? startWorker(core) : null;
  const api = options.api ? await startApi(core) : null;
  let closed = false;
  return {
    config,
    store: core.store,
    signals: core.signals,
    engine: worker?.engine ?? null,
    dispatcher: worker?.dispatcher ?? null,
    app: api?.app ?? null,
    providers: core.providers,
    url: api?.url ?? null,
    logger,
    async close(graceMs = 10_000) {
      if (closed) return;
      closed = true;
      await api?.app.close();
      await api?.openAIOutput.stop();
      await api?.ingests.stop();
      await worker?.engine.stop(graceMs);
      await worker?.dispatcher?.stop(graceMs);
      core.limiters.close();
      await core.providers.closeAll();
      await core.signals.close();
      await core.files.close();
      await core.store.close();
      await core.tracing.shutdown();
    },
  };
}
