import type { ModelCallUsage } from "../domain/usage.js";
import type { Limiter, Limiters, Permit } from "../providers/rate-limiter.js";
import type { ProviderRegistry } from "../providers/registry.js";
import type {
  CallSignal,
  DeltaListener,
  ModelOutcome,
  ModelRequest,
  TokenUsage,
} from "../providers/types.js";
import type { ResponseDetail } from "../store/types.js";
import { modelCallAttributes, modelResultAttributes } from "../tracing/genai.js";
import { inSpan, traceContent, tracingEnabled } from "../tracing/spans.js";
import type { EmbeddingBatcher } from "./embedding-batcher.js";
import type { UpstreamCallMetrics } from "./metrics.js";
import {
  type AgentTurn,
  DEFAULT_COMPLETION_BUDGET,
  type PreparedTurn,
  prepareTurn,
  type RequestTurn,
  routeModel,
} from "./prepare-turn.js";
import { type CallResult, callProvider, embeddingResult } from "./provider-call.js";
import { settleStructured, structuredFormat } from "./structured-output.js";

/** What a turn needs of its process: the providers, their per-upstream limits, the metrics hook. */
export interface TurnDeps {
  providers: ProviderRegistry;
  /** One registry per process, so batch items and chat messages share each upstream's budget. */
  limiters: Limiters;
  metrics?: UpstreamCallMetrics;
  /** Joins embeddings lines bound for one upstream into shared calls (absent: one call per line). */
  embeddings?: EmbeddingBatcher;
}

export interface TurnOptions {
  /** Aborts the permit wait and the model call: an AbortSignal, or the engine's ItemAbort (see its doc). */
  signal: CallSignal;
  /** Receives the text as the provider streams it. */
  onDelta?: DeltaListener;
  /** Called once the permit is granted, right before the model is called. */
  onCallStart?: () => void;
  /**
   * Called when the model's 2xx answer is in, before it is read, if the provider can tell (an
   * HTTP upstream, not streamed), once per turn: the turn makes no further model call after it.
   * The call's rate-limit concurrency slot is freed at that moment too (`Permit.answered`). Only
   * a caller that runs one call per turn passes it (the engine's items without tools); a turn
   * that may call again (structured output's repair) does not forward it.
   */
  onAnswered?: () => void;
  /**
   * A permit taken before the turn's context was loaded (`reservePermit`): the turn's first model
   * call uses it instead of taking one; the turn gives back what no call took, on every path.
   */
  permit?: ReservedPermit;
}

/**
 * A rate-limit permit held for a turn's first model call. That call takes it over (`take`, at most
 * once) and releases it with the call's outcome; `giveBack` releases it unused if no call took it.
 * Whoever holds one calls `giveBack` when done (a `finally`): so the permit is released exactly
 * once on every path, however many hands it went through.
 */
export class ReservedPermit {
  private permit: Permit | null = null;

  /** Holds `permit` for the first call (a holder holds one permit at a time). */
  hold(permit: Permit): void {
    this.giveBack();
    this.permit = permit;
  }

  /** The held permit, now the caller's to release; null when there is none (any more). */
  take(): Permit | null {
    const permit = this.permit;
    this.permit = null;
    return permit;
  }

  /** Releases the held permit unused, if no call took it. */
  giveBack(): void {
    this.take()?.release(null);
  }
}

/**
 * Takes the rate-limit permit of the upstream `model` routes to before a turn's history and
 * attachments are read, so that items waiting for the upstream hold none of them in memory.
 * Null when the signal ended the wait, or when the model routes nowhere (runTurn says why).
 */
export async function reservePermit(
  deps: TurnDeps,
  model: string,
  promptChars: number,
  maxTokens: number | null,
  signal: CallSignal,
): Promise<Permit | null> {
  const ref = routeModel(model, deps.providers);
  if (!ref.ok) return null;
  const estimated = Math.ceil(promptChars / 4) + (maxTokens ?? DEFAULT_COMPLETION_BUDGET);
  return takePermit(deps.limiters.get(ref.provider), estimated, signal);
}

/** The upstream a turn was routed to: a configured provider and the model name it knows. */
export interface Upstream {
  provider: string;
  model: string;
}

/** The tokens and calls of a turn that failed after its model answered. */
export interface SpentUsage {
  upstream: Upstream;
  usage: TokenUsage;
  calls: ModelCallUsage[];
}

/** The typed result of a turn; the engine maps it to an item outcome, the chat path stores it. */
export type TurnResult =
  | {
      kind: "success";
      upstream: Upstream;
      text: string;
      /** The model as the upstream named it in its reply (the routed name when it did not). */
      model: string;
      finishReason: string | null;
      usage: TokenUsage;
      /** One entry per model call of the turn, for `responseUsage()`. */
      calls: ModelCallUsage[];
      /** How long the model calls took, waiting for permits not included. */
      callMs: number;
      /** The parsed answer, validated against the request's response format (structured output). */
      json?: unknown;
      /** Tool calls, logprobs, thinking, vectors or a Response object, when the answer has any. */
      detail?: ResponseDetail;
    }
  | { kind: "retryable"; upstream: Upstream; code: number; message: string; retryAfterMs?: number }
  | {
      kind: "failed";
      upstream: Upstream | null;
      code: number;
      message: string;
      /**
       * What the model calls the turn made before it failed spent (a 422 after the repair step,
       * max_steps reached): billed by the provider, so counted in the batch's usage.
       */
      spent?: SpentUsage;
    }
  /** Stopped (the signal) before the model was called: nothing was sent upstream. */
  | { kind: "aborted" };

/**
 * Runs one turn: builds the model call, takes the upstream's rate-limit permit (abortable), calls
 * the provider, and gives the permit back on every path (success, typed failure, a provider that
 * throws, abort) with the real usage and what the outcome taught the limiter. Every call is
 * reported to the metrics hook. A provider that throws is a bug, not an upstream failure: the
 * error is passed on to the caller once the permit is back. A request with structured output has
 * its answer validated, with one repair call (`structured-output.ts`).
 */
export async function runTurn(
  deps: TurnDeps,
  turn: AgentTurn | RequestTurn,
  options: TurnOptions,
): Promise<TurnResult> {
  // As givingBackReserved, without its closure and async frame (one turn per item).
  try {
    const prepared = prepareTurn(turn, deps.providers);
    if (!prepared.ok)
      return { kind: "failed", upstream: null, code: prepared.code, message: prepared.message };
    const call = prepared.turn;
    // An agent's structured output is validated and repaired; the API shapes (request turns) get
    // the answer as the provider gave it, as OpenAI and Anthropic return it.
    const chat = call.call.operation === "complete" && !("request" in turn) ? call.call.request : undefined;
    const format = chat ? structuredFormat(chat) : undefined;
    if (!chat || !format) return await callModel(deps, call, options);
    return await structuredTurn(deps, call, chat, format, options);
  } finally {
    options.permit?.giveBack();
  }
}

/** Runs a turn, then gives back the permit reserved for it if no model call took it. */
export async function givingBackReserved<T>(options: TurnOptions, turn: () => Promise<T>): Promise<T> {
  try {
    return await turn();
  } finally {
    options.permit?.giveBack();
  }
}

/**
 * Structured output: validated, with one repair step through the same permit path; only the
 * validated answer reaches the listener, in one delta.
 */
async function structuredTurn(
  deps: TurnDeps,
  call: PreparedTurn,
  chat: ModelRequest,
  format: NonNullable<ReturnType<typeof structuredFormat>>,
  options: TurnOptions,
): Promise<TurnResult> {
  const quiet = { ...options, onDelta: undefined, onAnswered: undefined };
  const first = await callModel(deps, call, quiet);
  if (first.kind !== "success") return first;
  // The repair is a call of its own: it takes its own permit (a reserved one went to the first).
  const settled = await settleStructured(format, chat, first, (request: ModelRequest) =>
    callModel(deps, { ...call, call: { operation: "complete", request } }, quiet),
  );
  if (settled.kind === "success") options.onDelta?.(settled.text);
  return settled;
}

/** One model call under the upstream's permit, reported to the metrics hook, as a turn result. */
async function callModel(deps: TurnDeps, call: PreparedTurn, options: TurnOptions): Promise<TurnResult> {
  if (call.call.operation === "embed" && deps.embeddings) {
    const upstream = { provider: call.provider, model: call.model };
    const provider = deps.providers.get(call.provider);
    if (!provider)
      return { kind: "failed", upstream, code: 400, message: `unknown provider "${call.provider}"` };
    // The shared call takes its own permit for its group: one reserved for the turn goes back
    // now, not once the group has been answered (agent turns, the ones reserved for, never embed).
    options.permit?.giveBack();
    const shared = {
      provider,
      providerName: call.provider,
      limiter: deps.limiters.get(call.provider),
      metrics: deps.metrics,
    };
    const startedAt = Date.now();
    const out = await deps.embeddings.embed(shared, call.call.request, options.signal, options.onCallStart);
    if (!out) return { kind: "aborted" };
    return turnResult(upstream, embeddingResult(out), Date.now() - startedAt);
  }
  const called = await callUpstream(deps, call, options);
  if (called.kind !== "called") return called;
  return turnResult(called.upstream, called.result, called.callMs);
}

/** One model call's outcome as the provider gave it, or why it was not made. */
export type ModelCallResult =
  | { kind: "called"; upstream: Upstream; result: CallResult; callMs: number }
  | { kind: "failed"; upstream: Upstream; code: number; message: string }
  | { kind: "aborted" };

/**
 * One model call under the upstream's rate-limit permit: the turn's reserved one if no call has
 * taken it yet, else one taken (abortable) before the call; released on every path with the real
 * usage. A turn that calls tools (`turn-loop.ts`) makes one of these per model reply, so a
 * running tool never holds a permit.
 */
export async function callUpstream(
  deps: TurnDeps,
  call: PreparedTurn,
  options: TurnOptions,
): Promise<ModelCallResult> {
  const upstream = { provider: call.provider, model: call.model };
  const provider = deps.providers.get(call.provider);
  if (!provider)
    return { kind: "failed", upstream, code: 400, message: `unknown provider "${call.provider}"` };
  const { signal } = options;
  // The turn's reserved permit, or one free now, is taken without a wait (and an async frame).
  let permit = options.permit?.take() ?? null;
  if (permit === null) {
    const limiter = deps.limiters.get(call.provider);
    permit = limiter.tryAcquire?.(call.estimatedTokens) ?? null;
    if (permit === null) {
      permit = await takePermit(limiter, call.estimatedTokens, signal);
      if (!permit) return { kind: "aborted" };
    }
  }
  if (signal.aborted) {
    // Granted (or reserved) although already aborted: nothing is sent.
    permit.release(null);
    return { kind: "aborted" };
  }
  const startedAt = Date.now();
  let result: CallResult | null = null;
  let outcome: ModelOutcome | null = null;
  try {
    // Inside the try: whatever happens from here, the permit goes back in the finally.
    options.onCallStart?.();
    const onAnswered = options.onAnswered;
    const answered = onAnswered
      ? () => {
          permit.answered?.();
          onAnswered();
        }
      : undefined;
    result = tracingEnabled()
      ? await tracedModelCall(call, () =>
          callProvider(provider, call.call, signal, options.onDelta, answered),
        )
      : await callProvider(provider, call.call, signal, options.onDelta, answered);
    outcome = result.outcome;
  } finally {
    const used =
      outcome?.kind === "success" ? outcome.usage.promptTokens + outcome.usage.completionTokens : undefined;
    permit.release(outcome, used);
    deps.metrics?.upstreamCall({
      provider: upstream.provider,
      model: upstream.model,
      durationMs: Date.now() - startedAt,
      outcome: outcome?.kind ?? "failed",
      rateLimited: outcome?.kind === "retryable" && outcome.rateLimited,
    });
  }
  return { kind: "called", upstream, result, callMs: Date.now() - startedAt };
}

/**
 * The permit for a call (`reserved`, when the call has one, else one acquired), or null when the
 * signal ended the wait (or the limiter closed).
 */
async function takePermit(
  limiter: Limiter,
  estimatedTokens: number,
  signal: CallSignal,
  reserved?: Permit | null,
): Promise<Permit | null> {
  let permit: Permit;
  try {
    permit = reserved ?? (await limiter.acquire(estimatedTokens, signal));
  } catch {
    return null;
  }
  // Granted (or reserved) although already aborted: nothing is sent.
  if (signal.aborted) {
    permit.release(null);
    return null;
  }
  return permit;
}

export function turnResult(upstream: Upstream, result: CallResult, callMs: number): TurnResult {
  const { outcome, detail } = result;
  if (outcome.kind === "failed")
    return { kind: "failed", upstream, code: outcome.code, message: outcome.message };
  if (outcome.kind === "retryable") {
    const { code, message, retryAfterMs } = outcome;
    return {
      kind: "retryable",
      upstream,
      code,
      message,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    };
  }
  const model = outcome.model || upstream.model;
  const { usage } = outcome;
  // Optional members set only when present, as the spreads of temporary objects did.
  const call: ModelCallUsage = {
    model,
    callType: "llm_call",
    promptTokens: usage.promptTokens,
    completionTokens: usage.completionTokens,
  };
  if (usage.cachedPromptTokens !== undefined) call.cachedPromptTokens = usage.cachedPromptTokens;
  const success: Extract<TurnResult, { kind: "success" }> = {
    kind: "success",
    upstream,
    text: outcome.text,
    model,
    finishReason: outcome.finishReason ?? null,
    usage,
    calls: [call],
    callMs,
  };
  if (detail) success.detail = detail;
  return success;
}

/** One model call as a `chat {model}` span with the GenAI attributes of its request and answer. */
function tracedModelCall(call: PreparedTurn, run: () => Promise<CallResult>): Promise<CallResult> {
  // Untraced: the call itself, without the attribute objects and the extra async frame.
  if (!tracingEnabled()) return run();
  const maxTokens = call.call.operation === "complete" ? call.call.request.maxTokens : undefined;
  const attributes = modelCallAttributes(call.provider, call.model, maxTokens);
  const operation = call.call.operation === "embed" ? "embeddings" : "chat";
  return inSpan(`${operation} ${call.model}`, { attributes }, async (span) => {
    const result = await run();
    const { outcome } = result;
    if (outcome.kind === "success" && traceContent())
      span.addEvent("gen_ai.choice", { content: outcome.text });
    if (outcome.kind === "success") {
      span.setAttributes(
        modelResultAttributes({
          ...outcome.usage,
          model: outcome.model || call.model,
          finishReason: outcome.finishReason,
        }),
      );
    } else {
      span.setAttributes({ "error.type": String(outcome.code) });
      span.fail(outcome.message.slice(0, 200));
    }
    return result;
  });
}
