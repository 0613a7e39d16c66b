/**
 * The composition root: opens the store, builds the providers, the engine and the HTTP app,
 * and wires them together. The CLI and the tests start agentbatch through here.
 */
import pino, { type Logger } from "pino";
import type { Config } from "./config/index.js";
import { Engine } from "./engine/engine.js";
import { LocalSignals, type Signals } from "./engine/signals.js";
import { FileStorage } from "./files/storage.js";
import { ProviderRegistry } from "./providers/registry.js";
import { type App, buildApp } from "./server/app.js";
import { KeyResolver, registerApiKey } from "./server/auth.js";
import { openStore } from "./store/index.js";
import type { Store } from "./store/types.js";

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
  app: App | null;
  providers: ProviderRegistry;
  /** The base URL the API listens on, once listening. */
  url: string | null;
  logger: Logger;
  close(graceMs?: number): Promise<void>;
}

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: "agentbatch" },
    redact: ["req.headers['x-api-key']", "req.headers.authorization"],
  });
}

export async function startService(config: Config, options: ServiceOptions): Promise<Service> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const store = await openStore(config.db);
  const signals: Signals = new LocalSignals();
  const providers = new ProviderRegistry(config.providers, { timeoutMs: config.engine.requestTimeoutMs });
  if (config.bootstrapApiKey) await registerApiKey(store, config.bootstrapApiKey);

  let engine: Engine | null = null;
  if (options.worker) {
    engine = new Engine({ store, providers, signals, config: config.engine, prices: config.prices, logger });
    engine.start();
  }

  let app: App | null = null;
  let url: string | null = null;
  if (options.api) {
    const files = new FileStorage(config.dataDir);
    app = await buildApp({ store, signals, config, keys: new KeyResolver(store), providers, files }, logger);
    const address = await app.listen({ port: config.port, host: config.host });
    url = address.replace("[::1]", "localhost");
  }

  let closed = false;
  return {
    config,
    store,
    signals,
    engine,
    app,
    providers,
    url,
    logger,
    async close(graceMs = 10_000) {
      if (closed) return;
      closed = true;
      await app?.close();
      await engine?.stop(graceMs);
      await providers.closeAll();
      await signals.close();
      await store.close();
    },
  };
}
