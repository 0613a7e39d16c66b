/**
 * Switches tracing on when an OTLP endpoint is configured: an OpenTelemetry tracer provider with
 * a batching OTLP/HTTP exporter, registered globally (with the async-context manager, so spans
 * nest across awaits). The SDK is loaded only then: without an endpoint nothing of it is imported.
 */
import type { Logger } from "pino";
import { VERSION } from "../domain/version.js";
import { setTracingState } from "./spans.js";

export interface TracingConfig {
  /** OTLP/HTTP traces URL (…/v1/traces); null: tracing off. */
  endpoint: string | null;
  serviceName: string;
  /** Put message and tool contents on spans (off by default). */
  includeContent: boolean;
  /** How long finished spans wait before they are sent (the batch processor's delay). */
  exportDelayMs: number;
}

export interface Tracing {
  /** Sends what is buffered and stops. */
  shutdown(): Promise<void>;
}

const OFF: Tracing = { shutdown: async () => {} };

let active: Promise<Tracing> | null = null;

/** Starts tracing once per process (several services in one test process share it). */
export function startTracing(config: TracingConfig, logger: Logger): Promise<Tracing> {
  if (!config.endpoint) return Promise.resolve(OFF);
  active ??= open(config, config.endpoint, logger);
  return active;
}

async function open(config: TracingConfig, url: string, logger: Logger): Promise<Tracing> {
  const { trace } = await import("@opentelemetry/api");
  const { NodeTracerProvider } = await import("@opentelemetry/sdk-trace-node");
  const { BatchSpanProcessor } = await import("@opentelemetry/sdk-trace-base");
  const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-http");
  const { resourceFromAttributes } = await import("@opentelemetry/resources");
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ "service.name": config.serviceName, "service.version": VERSION }),
    spanProcessors: [
      new BatchSpanProcessor(new OTLPTraceExporter({ url }), { scheduledDelayMillis: config.exportDelayMs }),
    ],
  });
  provider.register();
  setTracingState({ enabled: true, includeContent: config.includeContent });
  logger.info({ endpoint: url }, "tracing: sending spans over OTLP/HTTP");
  return {
    async shutdown() {
      setTracingState({ enabled: false, includeContent: false });
      active = null;
      await provider.shutdown().catch((err) => logger.warn({ err }, "tracing: flushing spans failed"));
      trace.disable();
    },
  };
}
