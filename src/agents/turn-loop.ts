/**
 * A turn that may call tools: model call → the tool calls it asked for (in parallel) → model call
 * … until a final answer or `max_steps` model calls. Every model reply and every tool result is a
 * durable step, stored as it completes through the `StepLog` the caller hands in, so that a run
 * that resumes (after a crash, a lost lease, a retry) replays what is stored: a stored model reply
 * is never asked for again, a stored tool result never fetched again. Each model call takes its own
 * rate-limit permit (`callUpstream`; the first may use one reserved for the turn); a running tool
 * holds none.
 */
import type { ModelCallUsage } from "../domain/usage.js";
import type { ChatMessage, ModelRequest, TokenUsage } from "../providers/types.js";
import type { AgentTool, NewTurnStep, TurnStep } from "../store/types.js";
import { type AgentTurn, type PreparedTurn, prepareTurn } from "./prepare-turn.js";
import {
  callUpstream,
  givingBackReserved,
  type TurnDeps,
  type TurnOptions,
  type TurnResult,
  turnResult,
  type Upstream,
} from "./run-turn.js";
import { settleStructured, structuredFormat } from "./structured-output.js";
import type { HttpToolCaller } from "./tools/http.js";
import { runMcpTool } from "./tools/mcp-agent.js";
import { tracedToolCall } from "./tools/traced.js";
import {
  assistantMessage,
  modelStep,
  plannedCalls,
  toolMessage,
  toolSpecs,
  toolStep,
} from "./tools/transcript.js";
import type { PlannedCall, ToolCallContext, ToolEventListener, ToolOutput } from "./tools/types.js";

/** Where a turn's steps are kept; `append` is false when the step was not stored (not ours any more). */
export interface StepLog {
  load(): Promise<TurnStep[]>;
  append(step: NewTurnStep): Promise<boolean>;
}

export interface ToolTurnDeps extends TurnDeps {
  http: HttpToolCaller;
}

export interface ToolTurnInput {
  turn: AgentTurn;
  log: StepLog;
  context: Omit<ToolCallContext, "signal">;
  /** Told when each tool call this run makes starts and finishes (not for stored ones replayed). */
  onToolEvent?: ToolEventListener;
}

/** The turn's result, or the client tool calls it now waits on (their results come through the API). */
export type ToolTurnResult = TurnResult | { kind: "awaiting"; calls: AwaitedCall[] };

/** A client tool call the turn waits on, and the step its result is to be stored at. */
export type AwaitedCall = PlannedCall & { stepIndex: number };

interface LoopState {
  messages: ChatMessage[];
  calls: ModelCallUsage[];
  usage: TokenUsage;
  callMs: number;
}

const DEFAULT_MAX_STEPS = 10;

/**
 * Runs the turn to its answer (or the client calls it waits on). A permit reserved for the turn
 * (`options.permit`) is its first model call's; it goes back unused when that call's reply was
 * already stored (and on every other path that made no call).
 */
export async function runToolTurn(
  deps: ToolTurnDeps,
  input: ToolTurnInput,
  options: ToolTurnOptions,
): Promise<ToolTurnResult> {
  return givingBackReserved(options, () => toolTurn(deps, input, options));
}

/** A tool turn's options: its tools take the signal too, so it is a real AbortSignal. */
export type ToolTurnOptions = TurnOptions & { signal: AbortSignal };

async function toolTurn(
  deps: ToolTurnDeps,
  input: ToolTurnInput,
  options: ToolTurnOptions,
): Promise<ToolTurnResult> {
  const prepared = prepareTurn(input.turn, deps.providers);
  if (!prepared.ok) return { kind: "failed", upstream: null, code: prepared.code, message: prepared.message };
  const base = prepared.turn;
  if (base.call.operation !== "complete") {
    return { kind: "failed", upstream: null, code: 400, message: "an agent with tools needs a chat model" };
  }
  const baseRequest = base.call.request;
  const tools = input.turn.agent.tools ?? [];
  const maxSteps = input.turn.agent.maxSteps ?? DEFAULT_MAX_STEPS;
  const stored = new Map((await input.log.load()).map((s) => [s.index, s]));
  const state: LoopState = {
    messages: [...baseRequest.messages],
    calls: [],
    usage: { promptTokens: 0, completionTokens: 0 },
    callMs: 0,
  };
  const upstream = { provider: base.provider, model: base.model };
  let index = 0;
  for (let step = 1; ; step++) {
    const request = { ...baseRequest, messages: [...state.messages], tools: toolSpecs(tools) };
    const asked = stored.has(index) ? null : await askModel(deps, base, request, index, input.log, options);
    if (asked && "result" in asked) return withSpent(asked.result, state, upstream);
    const reply = asked?.step ?? (stored.get(index) as TurnStep);
    account(state, reply);
    const planned = plannedCalls(reply);
    state.messages.push(assistantMessage(reply));
    if (planned.length === 0) {
      const answer = finalAnswer(upstream, reply, state);
      return settleAnswer(deps, base, state, answer, { index, stored, log: input.log }, options);
    }
    if (step >= maxSteps) {
      return {
        kind: "failed",
        upstream,
        code: 400,
        message: `max_steps (${maxSteps}) reached without a final answer`,
        spent: { upstream, usage: state.usage, calls: state.calls },
      };
    }
    // A running tool holds no permit: one reserved for a model call the store answered goes back.
    options.permit?.giveBack();
    const results = await runCalls(deps, tools, planned, index, stored, input, options.signal);
    if (results.kind !== "done") return results.kind === "awaiting" ? results : { kind: "aborted" };
    for (const r of results.steps) state.messages.push(toolMessage(r));
    index += 1 + planned.length;
  }
}

/**
 * One model call (`request`: the transcript so far), stored as step `index`; a failure is the
 * turn's result. A `repair` call's step says so.
 */
async function askModel(
  deps: ToolTurnDeps,
  base: PreparedTurn,
  request: ModelRequest,
  index: number,
  log: StepLog,
  options: TurnOptions,
  repair = false,
): Promise<{ step: NewTurnStep } | { result: TurnResult }> {
  if (base.call.operation !== "complete") return { result: { kind: "aborted" } };
  const added = request.messages.slice(base.call.request.messages.length);
  const extraChars = added.reduce((sum, m) => sum + JSON.stringify(m).length, 0);
  const call: PreparedTurn = {
    ...base,
    call: { operation: "complete", request },
    estimatedTokens: base.estimatedTokens + Math.ceil(extraChars / 4),
  };
  const called = await callUpstream(deps, call, options);
  if (called.kind !== "called") return { result: called };
  const { outcome } = called.result;
  if (outcome.kind !== "success")
    return { result: turnResult(called.upstream, called.result, called.callMs) };
  const step = modelStep(index, outcome, outcome.model || base.model, called.callMs);
  if (repair) step.payload.repair = true;
  if (!(await log.append(step))) return { result: { kind: "aborted" } };
  return { step };
}

/** A model call that failed after earlier steps answered: those steps' tokens were spent. */
function withSpent(result: ToolTurnResult, state: LoopState, upstream: Upstream): ToolTurnResult {
  if (result.kind !== "failed" || result.spent || state.calls.length === 0) return result;
  return { ...result, spent: { upstream, usage: { ...state.usage }, calls: [...state.calls] } };
}

function account(state: LoopState, step: NewTurnStep): void {
  const model = String(step.payload.model ?? "");
  const cached = step.payload.cached_prompt_tokens;
  state.calls.push({
    model,
    callType: "llm_call",
    promptTokens: step.promptTokens,
    completionTokens: step.completionTokens,
    ...(typeof cached === "number" ? { cachedPromptTokens: cached } : {}),
  });
  state.usage.promptTokens += step.promptTokens;
  state.usage.completionTokens += step.completionTokens;
  state.callMs += step.durationMs;
}

function finalAnswer(
  upstream: { provider: string; model: string },
  step: NewTurnStep,
  state: LoopState,
): TurnResult & { kind: "success" } {
  return {
    kind: "success",
    upstream,
    text: String(step.payload.text ?? ""),
    model: String(step.payload.model || upstream.model),
    finishReason: (step.payload.finish_reason as string | null) ?? null,
    usage: state.usage,
    calls: state.calls,
    callMs: state.callMs,
  };
}

/** The turn's steps so far: what is stored, and where new ones go. */
interface StepsAt {
  /** The final answer's step; its repair, if it needs one, is the next. */
  index: number;
  stored: Map<number, TurnStep>;
  log: StepLog;
}

/**
 * The final answer of an agent with a response format, validated as a single call's is: one
 * repair call, then 422. The repair reply is a model step like the others (the one after the
 * answer): stored as it completes, replayed on resume rather than asked for again.
 */
function settleAnswer(
  deps: ToolTurnDeps,
  base: PreparedTurn,
  state: LoopState,
  answer: TurnResult & { kind: "success" },
  at: StepsAt,
  options: TurnOptions,
): Promise<TurnResult> | TurnResult {
  if (base.call.operation !== "complete") return answer;
  const format = structuredFormat(base.call.request);
  if (!format) return answer;
  // The transcript up to the answer; the repair request adds the answer and its errors.
  const request: ModelRequest = { ...base.call.request, messages: state.messages.slice(0, -1) };
  const index = at.index + 1;
  return settleStructured(format, request, answer, async (repair): Promise<TurnResult> => {
    const stored = at.stored.get(index);
    const asked = stored ? null : await askModel(deps, base, repair, index, at.log, options, true);
    if (asked && "result" in asked) return asked.result;
    return stepAnswer(answer.upstream, asked?.step ?? (stored as TurnStep));
  });
}

/** One model step's reply as a turn's answer (its own call and usage only). */
function stepAnswer(upstream: Upstream, step: NewTurnStep): TurnResult & { kind: "success" } {
  const state: LoopState = {
    messages: [],
    calls: [],
    usage: { promptTokens: 0, completionTokens: 0 },
    callMs: 0,
  };
  account(state, step);
  return finalAnswer(upstream, step, state);
}

type CallsResult =
  | { kind: "done"; steps: (NewTurnStep | TurnStep)[] }
  | { kind: "awaiting"; calls: AwaitedCall[] }
  | { kind: "aborted" };

/**
 * The results of one reply's tool calls, in call order: stored ones reused, the others run in
 * parallel and each stored as it completes. Client tool calls without a stored result make the
 * turn wait (after the server-side ones are stored).
 */
async function runCalls(
  deps: ToolTurnDeps,
  tools: AgentTool[],
  planned: PlannedCall[],
  index: number,
  stored: Map<number, TurnStep>,
  input: ToolTurnInput,
  signal: AbortSignal,
): Promise<CallsResult> {
  const byName = new Map<string, AgentTool>();
  for (const t of tools) {
    if (t.type === "mcp") for (const x of t.tools) byName.set(x.name, t);
    else byName.set(t.name, t);
  }
  const waiting: AwaitedCall[] = [];
  let lost = false;
  const steps = await Promise.all(
    planned.map(async (call, i): Promise<NewTurnStep | TurnStep | null> => {
      const done = stored.get(index + 1 + i);
      if (done) return done;
      const tool = byName.get(call.name);
      if (tool?.type === "client") {
        waiting.push({ ...call, stepIndex: index + 1 + i });
        return null;
      }
      const tell = input.onToolEvent;
      tell?.({ kind: "started", callId: call.callId, tool: call.name, arguments: call.arguments });
      const result = await runTool(deps, tool, call, { ...input.context, signal });
      const { durationMs } = result;
      tell?.({ kind: "finished", callId: call.callId, tool: call.name, ok: !result.isError, durationMs });
      const step = toolStep(index + 1 + i, call, result);
      if (!(await input.log.append(step))) lost = true;
      return step;
    }),
  ).catch((err) => {
    if (signal.aborted) return null;
    throw err;
  });
  if (steps === null || lost || signal.aborted) return { kind: "aborted" };
  if (waiting.length > 0) return { kind: "awaiting", calls: waiting };
  return { kind: "done", steps: steps as (NewTurnStep | TurnStep)[] };
}

async function runTool(
  deps: ToolTurnDeps,
  tool: AgentTool | undefined,
  call: PlannedCall,
  ctx: ToolCallContext,
): Promise<ToolOutput> {
  if (!tool) return { output: `unknown tool "${call.name}"`, isError: true, durationMs: 0 };
  if (tool.type === "http") return tracedToolCall("http", call, () => deps.http.call(tool, call, ctx));
  if (tool.type === "mcp")
    return tracedToolCall("mcp", call, () => runMcpTool(tool, call, ctx, deps.http.options));
  return { output: `tools of type ${tool.type} cannot run here`, isError: true, durationMs: 0 };
}
