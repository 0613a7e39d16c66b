import { SIMULATED_CAPABILITIES } from "./capabilities.js";
import { abortedOutcome, outcomeForHttpError, retryable } from "./outcomes.js";
import { embeddingTokens, embedText, simulatedDimensions } from "./simulated-embeddings.js";
import { simulateTurn } from "./simulated-turn.js";
import { splitForStreaming } from "./stream-chunks.js";
import type {
  CallSignal,
  DeltaListener,
  EmbeddingOutcome,
  EmbeddingRequest,
  ModelOutcome,
  ModelProvider,
  ModelRequest,
  ModelSuccess,
} from "./types.js";

/** How the simulated model behaves for one call. */
export interface SimulatorSettings {
  /** The model name without its query string. */
  model: string;
  latencyMs: number;
  /** Share of calls, 0 to 1, that fail with `failStatus`. */
  errorRate: number;
  failStatus: number;
  /** Makes the sequence of injected failures repeatable; Math.random decides without it. */
  seed?: number;
}

const FAIL_MODEL_PREFIX = "fail-";
/** The longest latency a model name or agent option can ask of the simulated model. */
export const MAX_SIMULATED_LATENCY_MS = 60_000;

/**
 * Reads the settings from the model name (`echo?latency_ms=50&error_rate=0.1&fail_status=500`,
 * or `fail-400` to fail every call with that status) and from the agent's options (keys
 * latency_ms, error_rate, fail_status, seed), the options winning since they are the agent's
 * explicit settings. Values that are not numbers are ignored.
 */
export function parseSimulatorSettings(model: string, options?: Record<string, unknown>): SimulatorSettings {
  const settings: SimulatorSettings = { model, latencyMs: 0, errorRate: 0, failStatus: 500 };
  const query = model.indexOf("?");
  if (query !== -1) {
    settings.model = model.slice(0, query);
    const params = new URLSearchParams(model.slice(query + 1));
    applySetting(settings, "latency_ms", params.get("latency_ms"));
    applySetting(settings, "error_rate", params.get("error_rate"));
    applySetting(settings, "fail_status", params.get("fail_status"));
    applySetting(settings, "seed", params.get("seed"));
  }
  if (settings.model.startsWith(FAIL_MODEL_PREFIX)) {
    const status = Number(settings.model.slice(FAIL_MODEL_PREFIX.length));
    if (Number.isInteger(status) && status >= 400 && status <= 599) {
      settings.errorRate = 1;
      settings.failStatus = status;
    }
  }
  if (options) {
    applySetting(settings, "latency_ms", options.latency_ms);
    applySetting(settings, "error_rate", options.error_rate);
    applySetting(settings, "fail_status", options.fail_status);
    applySetting(settings, "seed", options.seed);
  }
  return settings;
}

function applySetting(settings: SimulatorSettings, key: string, raw: unknown): void {
  if (raw === undefined || raw === null || raw === "") return;
  const value = Number(raw);
  if (!Number.isFinite(value)) return;
  switch (key) {
    case "latency_ms":
      settings.latencyMs = Math.min(MAX_SIMULATED_LATENCY_MS, Math.max(0, value));
      break;
    case "error_rate":
      settings.errorRate = Math.min(1, Math.max(0, value));
      break;
    case "fail_status":
      settings.failStatus = Math.trunc(value);
      break;
    case "seed":
      settings.seed = Math.trunc(value);
      break;
  }
}

/**
 * The built-in model: answers with simulateReply after an optional latency, and fails a chosen
 * share of calls the way a real upstream would, so the engine's retries can be exercised
 * without a network.
 */
export class SimulatedProvider implements ModelProvider {
  readonly name: string;
  readonly capabilities = SIMULATED_CAPABILITIES;
  /** One random sequence per seed, shared by every call that names the seed. */
  private readonly seeded = new Map<number, () => number>();

  /** `timeoutMs`: the request timeout, which a simulated call runs under like any upstream call. */
  constructor(
    name: string,
    private readonly timeoutMs = Number.POSITIVE_INFINITY,
  ) {
    this.name = name;
  }

  complete(request: ModelRequest, signal: CallSignal, onDelta?: DeltaListener): Promise<ModelOutcome> {
    if (signal.aborted) return Promise.resolve(abortedOutcome());
    const settings = parseSimulatorSettings(request.model, request.options);
    if (settings.latencyMs > this.timeoutMs) return this.timedOut(signal);
    const outcome = this.decideOutcome(request, settings);
    // The benchmark runs tens of thousands of zero-latency calls: no timers, no extra promises.
    if (settings.latencyMs === 0) {
      if (onDelta && outcome.kind === "success") {
        for (const chunk of splitForStreaming(outcome.text)) onDelta(chunk);
      }
      return Promise.resolve(outcome);
    }
    return deliverAfterLatency(outcome, settings.latencyMs, signal, onDelta);
  }

  /** Deterministic unit vectors (`simulated-embeddings.ts`), after the same latency and faults. */
  embed(request: EmbeddingRequest, signal: CallSignal): Promise<EmbeddingOutcome> {
    if (signal.aborted) return Promise.resolve(abortedOutcome());
    const settings = parseSimulatorSettings(request.model, request.options);
    const fault = this.injectedFault(settings);
    let outcome: EmbeddingOutcome;
    if (fault) outcome = fault;
    else {
      const dimensions = simulatedDimensions(settings.model, request.dimensions);
      outcome = {
        kind: "success",
        vectors: request.input.map((text) => embedText(text, dimensions)),
        usage: { promptTokens: embeddingTokens(request.input) },
        model: settings.model,
      };
    }
    if (settings.latencyMs === 0) return Promise.resolve(outcome);
    return sleep(settings.latencyMs, signal).then((done) => (done ? outcome : abortedOutcome()));
  }

  /** A call slower than the request timeout: a retryable 504 once the timeout passes, as an upstream's. */
  private async timedOut(signal: CallSignal): Promise<ModelOutcome> {
    if (!(await sleep(this.timeoutMs, signal))) return abortedOutcome();
    return retryable(504, `upstream timed out after ${this.timeoutMs} ms`, false);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private decideOutcome(request: ModelRequest, settings: SimulatorSettings): ModelOutcome {
    const fault = this.injectedFault(settings);
    if (fault) return fault;
    const turn = simulateTurn(request);
    const outcome: ModelSuccess = {
      kind: "success",
      text: turn.text,
      usage: { promptTokens: turn.promptTokens, completionTokens: turn.completionTokens },
      model: settings.model,
      finishReason: turn.finishReason,
    };
    if (turn.toolCalls) outcome.toolCalls = turn.toolCalls;
    if (turn.logprobs) outcome.logprobs = turn.logprobs;
    return outcome;
  }

  private injectedFault(settings: SimulatorSettings) {
    if (settings.errorRate > 0 && settings.failStatus >= 400 && this.random(settings) < settings.errorRate) {
      return outcomeForHttpError(settings.failStatus, `simulated upstream error ${settings.failStatus}`);
    }
    return undefined;
  }

  private random(settings: SimulatorSettings): number {
    if (settings.seed === undefined) return Math.random();
    let next = this.seeded.get(settings.seed);
    if (!next) {
      next = mulberry32(settings.seed);
      this.seeded.set(settings.seed, next);
    }
    return next();
  }
}

/** Waits out the latency (streamed replies spread their deltas over it), giving up on abort. */
async function deliverAfterLatency(
  outcome: ModelOutcome,
  latencyMs: number,
  signal: CallSignal,
  onDelta?: DeltaListener,
): Promise<ModelOutcome> {
  if (!onDelta || outcome.kind !== "success") {
    return (await sleep(latencyMs, signal)) ? outcome : abortedOutcome();
  }
  const chunks = splitForStreaming(outcome.text);
  const step = latencyMs / Math.max(1, chunks.length);
  for (const chunk of chunks) {
    if (!(await sleep(step, signal))) return abortedOutcome();
    onDelta(chunk);
  }
  return outcome;
}

/** Resolves true after `ms`, or false as soon as the signal aborts. */
function sleep(ms: number, signal: CallSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** A tiny seedable generator: the same seed gives the same failures on every run. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
