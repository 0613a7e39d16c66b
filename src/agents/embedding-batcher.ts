import type { Limiter, Permit } from "../providers/rate-limiter.js";
import type {
  CallSignal,
  EmbeddingOutcome,
  EmbeddingRequest,
  ModelOutcome,
  ModelProvider,
} from "../providers/types.js";
import type { UpstreamCallMetrics } from "./metrics.js";
import { embeddingTokenEstimate } from "./request-turn.js";

/** One line's embeddings call waiting to share an upstream request. */
interface Member {
  request: EmbeddingRequest;
  tokens: number;
  signal: CallSignal;
  onCallStart?: () => void;
  resolve: (outcome: EmbeddingOutcome | null) => void;
  onAbort: () => void;
}

interface Group {
  key: string;
  deps: EmbeddingCallDeps;
  members: Member[];
  inputs: number;
  timer: NodeJS.Timeout | null;
  /** Aborts the permit wait once every line has left the sent group. */
  controller: AbortController;
}

export interface EmbeddingCallDeps {
  provider: ModelProvider;
  providerName: string;
  limiter: Limiter;
  metrics?: UpstreamCallMetrics;
}

/**
 * Joins the embeddings calls of several lines bound for the same upstream (provider, model,
 * dimensions, encoding, user) into one upstream request of up to `maxEmbeddingInputs` inputs,
 * so a batch of short lines spends few requests against the upstream's RPM: one permit and one
 * call per group, its vectors handed back to each line in order, its prompt tokens shared in
 * proportion to each line's estimate. A group is sent when it is full or `windowMs` after its
 * first line. A line stopped (its signal) before the group is sent leaves it: null, nothing sent.
 */
export class EmbeddingBatcher {
  private readonly groups = new Map<string, Group>();

  constructor(private readonly windowMs = 5) {}

  embed(
    deps: EmbeddingCallDeps,
    request: EmbeddingRequest,
    signal: CallSignal,
    onCallStart?: () => void,
  ): Promise<EmbeddingOutcome | null> {
    if (signal.aborted) return Promise.resolve(null);
    const max = Math.max(1, deps.provider.capabilities.maxEmbeddingInputs);
    const key = JSON.stringify([
      deps.providerName,
      request.model,
      request.dimensions,
      request.encodingFormat,
      request.user,
    ]);
    return new Promise((resolve) => {
      let group = this.groups.get(key);
      if (group && group.inputs + request.input.length > max) {
        this.send(group);
        group = undefined;
      }
      if (!group) {
        group = { key, deps, members: [], inputs: 0, timer: null, controller: new AbortController() };
        this.groups.set(key, group);
        const g = group;
        g.timer = setTimeout(() => this.send(g), this.windowMs);
      }
      const g = group;
      const member: Member = {
        request,
        tokens: embeddingTokenEstimate(request.input),
        signal,
        onCallStart,
        resolve,
        onAbort: () => {
          if (!g.members.includes(member)) return;
          g.members.splice(g.members.indexOf(member), 1);
          g.inputs -= request.input.length;
          if (g.members.length === 0) g.controller.abort();
          resolve(null);
        },
      };
      signal.addEventListener("abort", member.onAbort, { once: true });
      g.members.push(member);
      g.inputs += request.input.length;
      if (g.inputs >= max) this.send(g);
    }).then((outcome) => outcome as EmbeddingOutcome | null);
  }

  /** Sends a group (once): takes one permit, makes one call, hands each line its share. */
  private send(group: Group): void {
    if (this.groups.get(group.key) !== group) return;
    this.groups.delete(group.key);
    if (group.timer) clearTimeout(group.timer);
    void this.run(group);
  }

  private async run(group: Group): Promise<void> {
    const { deps, controller } = group;
    const tokens = group.members.reduce((s, m) => s + m.tokens, 0);
    const permit = await deps.limiter.acquire(tokens, controller.signal).catch(() => null);
    const members = group.members.splice(0);
    for (const m of members) m.signal.removeEventListener("abort", m.onAbort);
    if (!permit || members.length === 0) {
      permit?.release(null);
      for (const m of members) m.resolve(null);
      return;
    }
    for (const m of members) m.onCallStart?.();
    const input = members.flatMap((m) => m.request.input);
    const outcome = await callOnce(deps, { ...members[0].request, input }, permit, controller.signal);
    if (outcome.kind === "failed" && members.length > 1) {
      // One line's input may be what the upstream refused: each line is sent alone, so only it fails.
      await Promise.all(members.map((m) => this.alone(deps, m)));
      return;
    }
    share(members, outcome);
  }

  private async alone(deps: EmbeddingCallDeps, m: Member): Promise<void> {
    const permit = await deps.limiter.acquire(m.tokens, m.signal).catch(() => null);
    if (!permit) {
      m.resolve(null);
      return;
    }
    m.resolve(await callOnce(deps, m.request, permit, m.signal));
  }
}

/** One upstream embeddings call under a permit it gives back, reported to the metrics hook. */
async function callOnce(
  deps: EmbeddingCallDeps,
  request: EmbeddingRequest,
  permit: Permit,
  signal: CallSignal,
): Promise<EmbeddingOutcome> {
  const startedAt = Date.now();
  let outcome: EmbeddingOutcome | null = null;
  try {
    outcome = deps.provider.embed
      ? await deps.provider.embed(request, signal)
      : { kind: "failed", code: 400, message: `provider "${deps.providerName}" has no embeddings endpoint` };
  } catch (err) {
    outcome = { kind: "failed", code: 500, message: `embeddings call threw: ${(err as Error).message}` };
  } finally {
    permit.release(
      asModelOutcome(outcome),
      outcome?.kind === "success" ? outcome.usage.promptTokens : undefined,
    );
    deps.metrics?.upstreamCall({
      provider: deps.providerName,
      model: request.model,
      durationMs: Date.now() - startedAt,
      outcome: outcome?.kind ?? "failed",
      rateLimited: outcome?.kind === "retryable" && outcome.rateLimited,
    });
  }
  return outcome;
}

/** The group's outcome as each line's: its own vectors and its share of the tokens. */
function share(members: Member[], outcome: EmbeddingOutcome): void {
  if (outcome.kind !== "success") {
    for (const m of members) m.resolve(outcome);
    return;
  }
  const estimated = members.reduce((s, m) => s + m.tokens, 0);
  let offset = 0;
  let given = 0;
  members.forEach((m, i) => {
    const n = m.request.input.length;
    const last = i === members.length - 1;
    const tokens = last
      ? outcome.usage.promptTokens - given
      : Math.round((outcome.usage.promptTokens * m.tokens) / Math.max(1, estimated));
    given += tokens;
    m.resolve({
      ...outcome,
      vectors: outcome.vectors.slice(offset, offset + n),
      usage: { promptTokens: tokens },
    });
    offset += n;
  });
}

function asModelOutcome(outcome: EmbeddingOutcome | null): ModelOutcome | null {
  if (outcome?.kind !== "success") return outcome;
  return {
    kind: "success",
    text: "",
    model: outcome.model,
    usage: { promptTokens: outcome.usage.promptTokens, completionTokens: 0 },
    ...(outcome.rateLimit ? { rateLimit: outcome.rateLimit } : {}),
  };
}
