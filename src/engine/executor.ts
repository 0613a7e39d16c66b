import type { Logger } from "pino";
import type { AgentTurn, RequestTurn } from "../agents/prepare-turn.js";
import {
  ReservedPermit,
  reservePermit,
  runTurn,
  type TurnDeps,
  type TurnOptions,
} from "../agents/run-turn.js";
import type { HttpToolCaller } from "../agents/tools/http.js";
import { loadAgentTurn, type TurnSources } from "../agents/turn-input.js";
import { runToolTurn, type StepLog, type ToolTurnResult } from "../agents/turn-loop.js";
import type { PriceTable } from "../domain/pricing.js";
import type { LoadedAttachments } from "../files/attachments.js";
import type { AgentVersion, ClaimedItem } from "../store/types.js";
import { itemAttributes } from "../tracing/genai.js";
import { inSpan, NOOP_SPAN, type SpanHandle, type SpanOptions, tracingEnabled } from "../tracing/spans.js";
import type { EngineStore } from "./engine-store.js";
import type { HeldItem } from "./held-items.js";
import type { ItemAbort } from "./item-abort.js";
import type { EngineMetrics } from "./metrics.js";
import { failedResult, type ItemResult, type RetryPolicy, retryOrFail, successResult } from "./outcomes.js";

/**
 * Reads an item's attached files as content parts, waiting for room in the process's attachment
 * memory (`signal` ends the wait); the engine has none without file storage.
 */
export type AttachmentLoader = (
  workspaceId: string,
  fileIds: string[],
  signal?: AbortSignal,
) => Promise<LoadedAttachments>;

/** The history of a turn that continues no chat, one array for all of them (turns only read it). */
const NO_HISTORY: AgentTurn["history"] = [];

type ItemTurn =
  | { ok: true; turn: AgentTurn | RequestTurn; release?: () => void }
  | { ok: false; code: number; message: string };

export interface ExecutorDeps {
  store: Pick<EngineStore, "agents" | "chats" | "steps">;
  /** This process's lease owner: a tool-using turn stores its steps under the item's lease. */
  owner: string;
  /** Calls http tools (agents with tools fail without it). */
  tools?: HttpToolCaller;
  attachments?: AttachmentLoader;
  turns: TurnDeps;
  policy: RetryPolicy;
  prices: PriceTable;
  metrics?: EngineMetrics;
  logger: Logger;
}

/**
 * Runs one item: its turn (its own request, or its agent version's with the history and files it
 * names) through `runTurn`, then the typed result as the item's outcome under the retry policy.
 */
export class ItemExecutor {
  private readonly versions = new Map<string, Map<number, Promise<AgentVersion | undefined>>>();
  private readonly loadFiles: AttachmentLoader;

  constructor(private readonly deps: ExecutorDeps) {
    this.loadFiles =
      deps.attachments ??
      (async () => ({ ok: false, message: "this worker has no file storage for attached files" }));
  }

  /**
   * The item's outcome, or null when it was stopped before its model call (it stays held, to be
   * handed back). `onCallStart` marks the moment the model is called; `onAnswered` the moment its
   * answer is in, before it is read (a turn of one call only: see `TurnOptions.onAnswered`).
   * Throws what the provider threw.
   */
  execute(held: HeldItem, onCallStart: () => void, onAnswered?: () => void): Promise<ItemResult | null> {
    // Untraced: the run itself, without a span closure and the extra async frame per item.
    if (!tracingEnabled()) return this.runItem(held, onCallStart, onAnswered, NOOP_SPAN);
    const { item } = held;
    const spanOptions: SpanOptions = {
      attributes: itemAttributes({
        batchId: item.batchId,
        customId: item.customId,
        workspaceId: item.workspaceId,
        itemId: item.id,
        attempt: item.attempt,
      }),
      startTime: held.claimedAt,
    };
    return inSpan("agentbatch.item", spanOptions, (span) =>
      this.runItem(held, onCallStart, onAnswered, span),
    );
  }

  /** The item's turn and its outcome, in the item's span when traced. */
  private async runItem(
    held: HeldItem,
    onCallStart: () => void,
    onAnswered: (() => void) | undefined,
    span: SpanHandle,
  ): Promise<ItemResult | null> {
    const { item } = held;
    // The item's stop as the permit wait and the model call read it (no AbortSignal made for it).
    const signal = held.abort;
    // A permit reserved while the item's context loads is its first model call's; one that no
    // call took (a failed load, a stop, a throw) goes back here.
    const reserved = new ReservedPermit();
    let loaded: ItemTurn | undefined;
    let result: ToolTurnResult;
    try {
      loaded = await this.turnOf(item, held.abort, reserved);
      // Stopped while waiting for its permit or room for its attachments: handed back, not failed.
      if (signal.aborted) return null;
      if (!loaded.ok) return { kind: "failed", errorCode: loaded.code, errorMessage: loaded.message };
      result = await this.run(held, loaded.turn, { signal, onCallStart, onAnswered, permit: reserved });
    } finally {
      reserved.giveBack();
      if (loaded?.ok) loaded.release?.();
    }
    const outcome = this.outcomeOf(item, result);
    if (span !== NOOP_SPAN) {
      span.setAttributes({ "agentbatch.outcome": outcome?.kind ?? "handed_back" });
      if (outcome && (outcome.kind === "failed" || outcome.kind === "retry")) {
        span.fail(`${outcome.kind} ${outcome.errorCode}`);
      }
    }
    return outcome;
  }

  /** An agent with tools runs the tool loop, its steps stored under the item's lease; others one call. */
  private run(held: HeldItem, turn: AgentTurn | RequestTurn, options: TurnOptions): Promise<ToolTurnResult> {
    if ("request" in turn || !turn.agent.tools?.length) return runTurn(this.deps.turns, turn, options);
    const { item } = held;
    // A tool turn calls the model again after each tool: its slot is held until the turn ends. Its
    // tools take a real AbortSignal (made now, aborted with the item).
    const toolOptions = { ...options, signal: held.abort.signal, onAnswered: undefined };
    const { store, tools, owner } = this.deps;
    const steps = store.steps;
    if (!steps || !tools) {
      return Promise.resolve({
        kind: "failed",
        upstream: null,
        code: 500,
        message: "this worker cannot run tools",
      });
    }
    const fence = { itemId: item.id, leaseOwner: owner, attempt: item.attempt };
    const log: StepLog = {
      load: () => steps.list(item.id),
      append: (step) => steps.append(fence, step, Date.now()),
    };
    const context = { agentId: item.agentId, batchId: item.batchId, customId: item.customId };
    return runToolTurn({ ...this.deps.turns, http: tools }, { turn, log, context }, toolOptions);
  }

  /** The item's turn; a permit it reserves on the way is held in `reserved`. */
  private async turnOf(item: ClaimedItem, abort: ItemAbort, reserved: ReservedPermit): Promise<ItemTurn> {
    if (item.request) return { ok: true, turn: { request: item.request } };
    const agent = await this.agentVersion(item.agentId, item.agentVersion);
    if (!agent) {
      return {
        ok: false,
        code: 400,
        message: `agent ${item.agentId} version ${item.agentVersion} not found`,
      };
    }
    // An item with no history and no files reads nothing: its turn as loadAgentTurn makes it,
    // without the sources, the input and an async frame of their own.
    if (item.historyId === null && item.attachedFileUuids.length === 0) {
      return { ok: true, turn: { agent, message: item.message, history: NO_HISTORY } };
    }
    // The upstream's permit first: items waiting for it hold no history or files in memory.
    const { model, maxTokens } = agent;
    const granted = await reservePermit(this.deps.turns, model, item.message.length, maxTokens, abort);
    if (!granted && abort.aborted) return { ok: false, code: 499, message: "stopped" };
    if (granted) reserved.hold(granted);
    let release: (() => void) | undefined;
    const sources: TurnSources = {
      history: (chatId) => this.deps.store.chats.listMessages(chatId),
      attachments: async (workspaceId, fileIds) => {
        // Waits for room in the attachment memory: a real AbortSignal (an item with files only).
        const files = await this.loadFiles(workspaceId, fileIds, abort.signal);
        if (files.ok) release = files.release;
        return files;
      },
    };
    const input = {
      agent,
      message: item.message,
      workspaceId: item.workspaceId,
      historyId: item.historyId,
      attachedFileIds: item.attachedFileUuids,
    };
    const loaded = await loadAgentTurn(sources, input);
    return loaded.ok && release ? { ...loaded, release } : loaded;
  }

  private agentVersion(agentId: string, version: number): Promise<AgentVersion | undefined> {
    // By agent, then version: no key string built (and hashed) per item.
    let byVersion = this.versions.get(agentId);
    if (!byVersion) {
      byVersion = new Map();
      this.versions.set(agentId, byVersion);
    }
    let p = byVersion.get(version);
    if (!p) {
      // Published versions never change, so they are cached for the life of the process.
      const loading = this.deps.store.agents.getVersion(agentId, version);
      byVersion.set(version, loading);
      loading.catch(() => {
        if (byVersion.get(version) === loading) byVersion.delete(version);
      });
      p = loading;
    }
    return p;
  }

  private outcomeOf(item: ClaimedItem, result: ToolTurnResult): ItemResult | null {
    switch (result.kind) {
      case "awaiting":
        return { kind: "await", calls: result.calls };
      case "aborted":
        return null;
      case "success":
        return successResult(item, result, this.deps.prices);
      case "failed":
        return failedResult(result, this.deps.prices);
      case "retryable": {
        const outcome = retryOrFail(item, result, this.deps.policy, Date.now());
        if (outcome.kind === "retry") this.retrying(item, result, outcome.notBefore);
        return outcome;
      }
    }
  }

  private retrying(
    item: ClaimedItem,
    result: Extract<ToolTurnResult, { kind: "retryable" }>,
    at: number,
  ): void {
    const { provider, model } = result.upstream;
    this.deps.metrics?.itemRetried(provider, model, result.code);
    this.deps.logger.debug(
      {
        batch_id: item.batchId,
        item_id: item.id,
        custom_id: item.customId,
        attempt: item.attempt,
        code: result.code,
        retry_in_ms: at - Date.now(),
      },
      "item will be retried",
    );
  }
}
