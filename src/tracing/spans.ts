/**
 * The spans agentbatch records, through the OpenTelemetry API. Nothing is created unless tracing
 * was switched on (setup.ts, when an OTLP endpoint is configured): every helper then calls its
 * function directly, so tracing costs nothing when it is off.
 *
 * One span per item attempt (`agentbatch.item`, starting when the item was claimed), its children
 * one per model call (`chat {model}`) and one per tool call (`execute_tool {tool}`), with the
 * GenAI semantic-convention attributes (model, provider, token usage, finish reason) and the
 * batch id, custom_id and workspace. Message contents are recorded only when turned on.
 */
import { type Attributes, type Span, SpanStatusCode, trace } from "@opentelemetry/api";

const TRACER = "agentbatch";

let enabled = false;
let withContent = false;

/** Switched by setup.ts. */
export function setTracingState(state: { enabled: boolean; includeContent: boolean }): void {
  enabled = state.enabled;
  withContent = state.includeContent;
}

export function tracingEnabled(): boolean {
  return enabled;
}

/** Whether message and tool contents may be put on spans (off unless turned on). */
export function traceContent(): boolean {
  return enabled && withContent;
}

/** What the traced code may do with its span; a shared no-op when tracing is off. */
export interface SpanHandle {
  setAttributes(attributes: Attributes): void;
  addEvent(name: string, attributes?: Attributes): void;
  /** Marks the span failed with a short reason (no stack traces, no contents). */
  fail(reason: string): void;
}

/** The span handle of untraced code: does nothing. */
export const NOOP_SPAN: SpanHandle = { setAttributes() {}, addEvent() {}, fail() {} };
const NOOP = NOOP_SPAN;

function handle(span: Span): SpanHandle {
  return {
    setAttributes: (a) => span.setAttributes(a),
    addEvent: (name, a) => span.addEvent(name, a),
    fail: (reason) => span.setStatus({ code: SpanStatusCode.ERROR, message: reason }),
  };
}

export interface SpanOptions {
  attributes?: Attributes;
  /** When the span began, if before now (an item attempt begins at its claim). */
  startTime?: number;
}

/**
 * Runs `fn` inside a span named `name`, a child of whatever span is active; the span ends when
 * `fn` settles (an exception marks it failed and is passed on).
 */
export function inSpan<T>(
  name: string,
  options: SpanOptions,
  fn: (span: SpanHandle) => Promise<T>,
): Promise<T> {
  // Untraced: `fn`'s own promise, without an async frame around it.
  if (!enabled) {
    try {
      return fn(NOOP);
    } catch (err) {
      return Promise.reject(err);
    }
  }
  return traced(name, options, fn);
}

async function traced<T>(
  name: string,
  options: SpanOptions,
  fn: (span: SpanHandle) => Promise<T>,
): Promise<T> {
  const tracer = trace.getTracer(TRACER);
  return tracer.startActiveSpan(
    name,
    { attributes: options.attributes, startTime: options.startTime },
    async (span) => {
      try {
        return await fn(handle(span));
      } catch (err) {
        span.recordException({
          name: (err as Error)?.name ?? "Error",
          message: (err as Error)?.message ?? String(err),
        });
        span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message ?? "error" });
        throw err;
      } finally {
        span.end();
      }
    },
  );
}
