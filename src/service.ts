/**
 * The composition root: opens the store, builds the providers, the engine and the HTTP app,
 * and wires them together. The CLI and the tests start agentbatch through here.
 */
import pino, { type Logger } from "pino";
import { HttpToolCaller } from "./agents/tools/http.js";
import { type Config, defaultEngineConfig } from "./config/index.js";
import { ApiShare } from "./engine/api-share.js";
import { Engine } from "./engine/engine.js";
import { BackgroundLoop } from "./engine/loop.js";
import { SharedSignals } from "./engine/shared-signals.js";
import { LocalSignals, type Signals } from "./engine/signals.js";
import { AttachmentBudget } from "./files/attachment-budget.js";
import { loadAttachments } from "./files/attachments.js";
import { deleteFilesCreatedBefore } from "./files/retention.js";
import { FileStorage } from "./files/storage.js";
import { type LabelBounds, Metrics } from "./metrics/prometheus.js";
import { LimiterRegistry, type Limiters } from "./providers/rate-limiter.js";
import { ProviderRegistry } from "./providers/registry.js";
import type { App } from "./server/app.js";
import { KeyResolver, registerEnvKey } from "./server/auth.js";
import type { OpenAIOutputWriter } from "./server/batch-apis/openai-output.js";
import type { AppContext } from "./server/context.js";
import type { IngestRunner } from "./server/ingest-runner.js";
import { openStore } from "./store/index.js";
import type { Store } from "./store/types.js";
import { type EngineThread, engineInThread, startEngineThread } from "./threads/engine-host.js";
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
  /** This process's engine when it runs on this thread (null with `engine.thread` on: it runs in the engine thread). */
  engine: Engine | null;
  /** The engine runs in a worker thread of its own (`engine.thread` on a SQLite file; src/threads/). */
  engineThread: boolean;
  /** Sends webhook deliveries; runs beside the engine unless `webhooks.dispatch` is off. */
  dispatcher: WebhookDispatcher | null;
  app: App | null;
  providers: ProviderRegistry;
  /** The per-upstream limits this process's calls take their permits from (chat turns and items). */
  limiters: Limiters;
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

/** What every process (and the engine thread) opens, whatever it runs: the store, signals, providers, files, limits, metrics. */
export interface Core {
  config: Config;
  logger: Logger;
  store: Store;
  signals: Signals;
  providers: ProviderRegistry;
  files: FileStorage;
  limiters: LimiterRegistry;
  /** Calls agents' http tools, for batch items and chat messages alike. */
  tools: HttpToolCaller;
  metrics: Metrics;
  engineConfig: Config["engine"];
  tracing: Tracing;
}

/**
 * `threads`: the engine runs in a thread of its own on the same SQLite file (`src/threads/`);
 * `engineThread`: this is that thread (the API thread registers the env key and reports the
 * process's metrics).
 */
export async function openCore(
  config: Config,
  logger: Logger,
  options: { threads?: boolean; engineThread?: boolean } = {},
): Promise<Core> {
  const tracing = await startTracing(config.tracing, logger);
  // One WAL checkpointer per file: the API thread's connection has it.
  const store = await openStore(config.db, { threads: options.threads, checkpoints: !options.engineThread });
  const signals = await openSignals(store, logger);
  const engineConfig = { ...config.engine };
  // Notifications (LISTEN/NOTIFY) wake idle workers, so their fallback poll can be slow.
  if (store.capabilities.broadcast && engineConfig.pollIntervalMs === defaultEngineConfig.pollIntervalMs) {
    engineConfig.pollIntervalMs = POSTGRES_POLL_INTERVAL_MS;
  }
  const providers = new ProviderRegistry(config.providers, { timeoutMs: config.engine.requestTimeoutMs });
  if (config.bootstrapApiKey && !options.engineThread) {
    const revoked = await registerEnvKey(store, config.bootstrapApiKey);
    if (revoked > 0) logger.warn({ revoked }, "AGENTBATCH_API_KEY changed: the previous env key is revoked");
  }
  const files = new FileStorage({
    dataDir: config.dataDir,
    backend: config.files.backend,
    blobs: store.blobs,
    s3: config.files.s3,
  });
  // One set of per-upstream limits for the engine's items and the API's interactive chat turns.
  const limiters = new LimiterRegistry((p) => providers.limitsFor(p), engineConfig.concurrency);
  // Scrapes within 5 s share one read of the store's aggregates.
  const metrics = new Metrics(store, {
    labels: metricLabelBounds(config),
    snapshotTtlMs: 5_000,
    processMetrics: !options.engineThread,
  });
  const tools = new HttpToolCaller({
    trustedOrigins: config.tools.trustedOrigins,
    concurrencyPerHost: config.tools.concurrencyPerHost,
    allowPrivateTargets: config.webhooks.allowPrivateTargets,
    caFile: config.webhooks.caFile,
  });
  return {
    config,
    logger,
    store,
    signals,
    providers,
    files,
    limiters,
    tools,
    metrics,
    engineConfig,
    tracing,
  };
}

/** The engine and the webhook dispatcher of a process (or engine thread) that runs items. */
export interface WorkerParts {
  engine: Engine;
  dispatcher: WebhookDispatcher | null;
  retention: BackgroundLoop | null;
}

/** The engine and the webhook dispatcher of a process that runs items. */
export function startWorker(core: Core): WorkerParts {
  const { store, files, metrics, config } = core;
  const { attachmentMemoryBytes, itemAttachmentBytes } = core.engineConfig;
  const budget = new AttachmentBudget(attachmentMemoryBytes);
  // An item never needs more than the whole budget, or it would wait for ever.
  const itemBytes = Math.min(itemAttachmentBytes, attachmentMemoryBytes);
  const engine = new Engine({
    store,
    providers: core.providers,
    signals: core.signals,
    config: core.engineConfig,
    prices: config.prices,
    logger: core.logger,
    attachments: (workspaceId, fileIds, signal) =>
      loadAttachments(store, files, workspaceId, fileIds, { itemBytes, budget, signal }),
    limiters: core.limiters,
    metrics: metrics.engine,
    tools: core.tools,
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
  return { engine, dispatcher, retention: startRetention(core) };
}

/** Deletes files older than `files.retentionDays`, as the cluster's leader, every `retentionSweepMs`. */
function startRetention(core: Core): BackgroundLoop | null {
  const { store, files, config, logger } = core;
  const days = config.files.retentionDays;
  if (!days) return null;
  const loop = new BackgroundLoop({
    iteration: () =>
      store.workers.runAsLeader("file-retention", async () => {
        const now = Date.now();
        const deleted = await deleteFilesCreatedBefore(store, files, now - days * 86_400_000, now);
        if (deleted > 0)
          logger.info({ files: deleted, retention_days: days }, "deleted files past retention");
      }),
    intervalMs: config.files.retentionSweepMs ?? 3600_000,
    unref: true,
    onError: (err) => logger.error({ err }, "file retention failed"),
  });
  loop.start();
  return loop;
}

/** Drains the engine and the dispatcher: in-flight calls and deliveries share `graceMs`. */
export async function stopWorker(worker: WorkerParts, graceMs: number): Promise<void> {
  await Promise.all([
    worker.engine.stop(graceMs),
    worker.dispatcher?.stop(graceMs),
    worker.retention?.stop(),
  ]);
}

/** Closes what `openCore` opened, once nothing runs on it. */
export async function closeCore(core: Core): Promise<void> {
  core.limiters.close();
  await core.tools.close();
  await core.providers.closeAll();
  await core.signals.close();
  await core.files.close();
  await core.store.close();
  await core.tracing.shutdown();
}

/** The HTTP API, listening, and the writer of OpenAI output files that runs in every API process. */
async function startApi(
  core: Core,
  closing: AbortSignal,
  thread: EngineThread | null,
  share: Limiters | null,
): Promise<{ app: App; url: string; openAIOutput: OpenAIOutputWriter; ingests: IngestRunner }> {
  // Loaded only by API nodes: a worker process starts faster without the HTTP stack.
  const { buildApp } = await import("./server/app.js");
  const { OpenAIOutputWriter } = await import("./server/batch-apis/openai-output.js");
  const { IngestRunner, DEFAULT_INGEST_STALE_MS } = await import("./server/ingest-runner.js");
  const { store, files, signals, logger, config } = core;
  const openAIOutput = new OpenAIOutputWriter(store, files, signals, logger);
  const { reopenIngest } = await import("./server/batch-submit.js");
  const ingests = new IngestRunner(
    store,
    signals,
    logger,
    (batch, progress) => reopenIngest(ctx, batch, progress),
    {
      chunkRows: 1000,
      staleMs: config.files.ingestStaleMs ?? DEFAULT_INGEST_STALE_MS,
      soleProcess: !store.capabilities.sharedByProcesses,
    },
  );
  const ctx: AppContext = {
    store,
    signals,
    config,
    keys: new KeyResolver(store),
    providers: core.providers,
    files,
    limiters: thread?.limiters ?? share ?? core.limiters,
    tools: core.tools,
    metrics: core.metrics,
    openAIOutput,
    closing,
    ingests,
  };
  const app = await buildApp(ctx, logger);
  const address = await app.listen({ port: config.port, host: config.host });
  openAIOutput.start();
  ingests.start();
  return { app, url: address.replace("[::1]", "localhost"), openAIOutput, ingests };
}

/** The engine thread, started on the open core; the core is closed if the thread fails to start. */
async function openEngineThread(core: Core): Promise<EngineThread> {
  try {
    return await startEngineThread(core.config, core.logger, core.metrics);
  } catch (err) {
    await closeCore(core);
    throw err;
  }
}

/**
 * The API, started on the open core; if it fails (the port is taken), the engine thread is
 * stopped at once and the core closed, or the thread would keep the process alive and claiming.
 */
async function openApi(
  core: Core,
  closing: AbortSignal,
  thread: EngineThread | null,
  share: Limiters | null,
) {
  try {
    return await startApi(core, closing, thread, share);
  } catch (err) {
    if (thread) {
      await thread.stop(0);
      await closeCore(core);
    }
    throw err;
  }
}

export async function startService(config: Config, options: ServiceOptions): Promise<Service> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const threaded = engineInThread(config, options);
  const core = await openCore(config, logger, { threads: threaded });
  const thread = threaded ? await openEngineThread(core) : null;
  const worker = options.worker && !thread ? startWorker(core) : null;
  // The engine's heartbeat shares a process's limits; an API alone joins at its first chat call.
  const share = options.api && !worker && !thread ? ApiShare.open(core) : null;
  const closing = new AbortController();
  const api = options.api ? await openApi(core, closing.signal, thread, share) : null;
  let closed = false;
  return {
    config,
    store: core.store,
    signals: core.signals,
    engine: worker?.engine ?? null,
    engineThread: thread !== null,
    dispatcher: worker?.dispatcher ?? null,
    app: api?.app ?? null,
    providers: core.providers,
    limiters: thread?.limiters ?? share ?? core.limiters,
    url: api?.url ?? null,
    logger,
    /**
     * Drains, then closes: progress streams end and claiming stops at once, unstarted items go
     * back at once; in-flight calls, webhook deliveries and HTTP requests share one grace
     * (`engine.shutdownGraceMs`, below Docker's 10 s stop timeout), run in parallel.
     */
    async close(graceMs = config.engine.shutdownGraceMs) {
      if (closed) return;
      closed = true;
      closing.abort();
      const apiDrained = Promise.all([
        api ? closeApp(api.app, graceMs).then(() => api.openAIOutput.stop()) : undefined,
        api?.ingests.stop(),
      ]);
      // The engine thread drains alongside, but its limiters serve the API's chat turns until
      // the API has drained (a chat turn within its grace takes its next permit there).
      await Promise.all([
        apiDrained.then(() => share?.stop(graceMs)), // its share goes back once no chat turn is left
        worker ? stopWorker(worker, graceMs) : undefined,
        thread?.stop(graceMs, apiDrained),
      ]);
      await closeCore(core);
    },
  };
}

/** The providers and `provider/model` names metrics may label with (others count as `other`). */
function metricLabelBounds(config: Config): LabelBounds {
  const providers = Object.keys(config.providers);
  const models = new Set<string>(Object.values(config.models));
  for (const name of Object.keys(config.prices)) {
    if (name.includes("/")) models.add(name);
    else for (const p of providers) models.add(`${p}/${name}`);
  }
  return { providers, models };
}

/** Closes the HTTP server: requests in progress may finish for `graceMs`, then their connections are cut. */
async function closeApp(app: App, graceMs: number): Promise<void> {
  const cut = setTimeout(() => app.server.closeAllConnections(), graceMs);
  try {
    await app.close();
  } finally {
    clearTimeout(cut);
  }
}
