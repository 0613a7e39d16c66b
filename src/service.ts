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
import { openStore } from "./store/index.js";
import type { Store } from "./store/types.js";
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

export async function startService(config: Config, options: ServiceOptions): Promise<Service> {
  const logger = options.logger ?? createLogger(config.logLevel);
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

  let engine: Engine | null = null;
  if (options.worker) {
    engine = new Engine({
      store,
      providers,
      signals,
      config: engineConfig,
      prices: config.prices,
      logger,
      attachments: (workspaceId, fileIds) => loadAttachments(store, files, workspaceId, fileIds),
      limiters,
      metrics: metrics.engine,
    });
    const running = engine;
    metrics.watchEngine(() => running.stats());
    engine.start();
  }
  let dispatcher: WebhookDispatcher | null = null;
  if (options.worker && config.webhooks.dispatch) {
    dispatcher = new WebhookDispatcher({ store, signals, config: config.webhooks, logger });
    dispatcher.start();
  }

  let app: App | null = null;
  let url: string | null = null;
  let openAIOutput: OpenAIOutputWriter | null = null;
  if (options.api) {
    // Loaded only by API nodes: a worker process starts faster without the HTTP stack.
    const { buildApp } = await import("./server/app.js");
    const { OpenAIOutputWriter } = await import("./server/batch-apis/openai-output.js");
    openAIOutput = new OpenAIOutputWriter(store, files, signals, logger);
    app = await buildApp(
      {
        store,
        signals,
        config,
        keys: new KeyResolver(store),
        providers,
        files,
        limiters,
        metrics,
        openAIOutput,
      },
      logger,
    );
    const address = await app.listen({ port: config.port, host: config.host });
    url = address.replace("[::1]", "localhost");
    // Writes the output files of ended OpenAI-shaped batches, in every API process.
    openAIOutput.start();
  }

  let closed = false;
  return {
    config,
    store,
    signals,
    engine,
    dispatcher,
    app,
    providers,
    url,
    logger,
    async close(graceMs = 10_000) {
      if (closed) return;
      closed = true;
      await app?.close();
      await openAIOutput?.stop();
      await engine?.stop(graceMs);
      await dispatcher?.stop(graceMs);
      limiters.close();
      await providers.closeAll();
      await signals.close();
      await files.close();
      await store.close();
    },
  };
}
