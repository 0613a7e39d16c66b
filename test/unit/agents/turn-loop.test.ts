import { describe, expect, it } from "vitest";
import { ReservedPermit } from "../../../src/agents/run-turn.js";
import { runToolTurn, type StepLog, type ToolTurnDeps } from "../../../src/agents/turn-loop.js";
import { LimiterRegistry } from "../../../src/providers/rate-limiter.js";
import type { ModelRequest, ModelSuccess } from "../../../src/providers/types.js";
import type { AgentConfig, NewTurnStep, TurnStep } from "../../../src/store/types.js";
import { fakeHttpTools, fakeProviders, lookupModel, lookupTool } from "../engine/harness.js";

const agent: AgentConfig = {
  model: "fake/model",
  systemPrompt: null,
  temperature: null,
  maxTokens: null,
  settings: {},
  maxSteps: 4,
  tools: [lookupTool],
};

function memoryLog(initial: TurnStep[] = []): StepLog & { steps: TurnStep[] } {
  const steps = [...initial];
  return {
    steps,
    load: async () => [...steps],
    append: async (s: NewTurnStep) => {
      if (steps.some((x) => x.index === s.index)) return false;
      steps.push({ ...s, createdAt: 0 });
      return true;
    },
  };
}

function deps(
  requests: ModelRequest[],
  toolCalls: string[],
): Omit<ToolTurnDeps, "limiters"> & { limiters: LimiterRegistry } {
  const http = fakeHttpTools((call) => {
    toolCalls.push(call.callId);
    return { output: `result of ${call.callId}`, isError: false, durationMs: 3 };
  });
  return {
    providers: fakeProviders(lookupModel(requests)),
    limiters: new LimiterRegistry(() => ({}), 8),
    http,
  };
}

const input = (log: StepLog) => ({
  turn: { agent, message: "hi", history: [] },
  log,
  context: { agentId: "a" },
});
const signal = () => new AbortController().signal;

describe("runToolTurn", () => {
  it("stores model reply, tool result, model reply and sums the usage", async () => {
    const requests: ModelRequest[] = [];
    const toolCalls: string[] = [];
    const log = memoryLog();
    const result = await runToolTurn(deps(requests, toolCalls), input(log), { signal: signal() });
    expect(result.kind).toBe("success");
    if (result.kind !== "success") return;
    expect(log.steps.map((s) => [s.index, s.kind])).toEqual([
      [0, "model"],
      [1, "tool"],
      [2, "model"],
    ]);
    expect(toolCalls).toHaveLength(1);
    expect(result.text).toBe(`answer: result of ${toolCalls[0]}`);
    expect(result.calls).toHaveLength(2);
    expect(result.usage).toEqual({ promptTokens: 20, completionTokens: 4 });
    // The model got its own call id back with the result; the tool got the public one.
    expect(requests[1].messages.at(-1)).toMatchObject({ role: "tool", toolCallId: "prov_1" });
    expect(requests[1].tools?.map((t) => t.name)).toEqual(["lookup"]);
    expect(toolCalls[0]).toMatch(/^call_[0-9a-f]{32}$/);
  });

  it("resumes from stored steps: a stored reply is not asked again, a stored result not fetched again", async () => {
    const first = memoryLog();
    await runToolTurn(deps([], []), input(first), { signal: signal() });
    // A run that stopped after the tool result: only the final model call is left.
    const requests: ModelRequest[] = [];
    const toolCalls: string[] = [];
    const log = memoryLog(first.steps.slice(0, 2));
    const result = await runToolTurn(deps(requests, toolCalls), input(log), { signal: signal() });
    expect(result.kind).toBe("success");
    expect(toolCalls).toEqual([]);
    expect(requests).toHaveLength(1);
    if (result.kind === "success") expect(result.calls).toHaveLength(2);
    // Stopped after the model reply: the tool runs once with the stored call id, no new model reply.
    const again: ModelRequest[] = [];
    const calls2: string[] = [];
    const log2 = memoryLog(first.steps.slice(0, 1));
    await runToolTurn(deps(again, calls2), input(log2), { signal: signal() });
    expect(calls2).toEqual([(first.steps[0].payload.tool_calls as { call_id: string }[])[0].call_id]);
    expect(again).toHaveLength(1);
  });

  it("uses a reserved permit for its first model call only, and gives it back before a replayed reply's tools run", async () => {
    const d = deps([], []);
    d.limiters = new LimiterRegistry(() => ({ maxConcurrency: 1 }), 1);
    const limiter = d.limiters.get("fake");
    const acquire = limiter.acquire.bind(limiter);
    let acquisitions = 0;
    limiter.acquire = (tokens, signal) => {
      acquisitions++;
      return acquire(tokens, signal);
    };
    // A permit free at once is taken without a wait (`tryAcquire`): counted as one acquired.
    const tryAcquire = limiter.tryAcquire?.bind(limiter);
    limiter.tryAcquire = (tokens) => {
      const permit = tryAcquire?.(tokens) ?? null;
      if (permit) acquisitions++;
      return permit;
    };
    const reserve = async () => {
      const permit = new ReservedPermit();
      permit.hold(await acquire(1, signal()));
      return permit;
    };
    // Two model calls: the first takes the reserved permit, the second acquires one.
    const fresh = memoryLog();
    const result = await runToolTurn(d, input(fresh), { signal: signal(), permit: await reserve() });
    expect(result.kind).toBe("success");
    expect(acquisitions).toBe(1);
    expect(limiter.running).toBe(0);
    // Resumed after the first reply: its tool runs holding no permit, the last call takes one.
    let runningDuringTool = -1;
    d.http.call = async (_tool, call) => {
      runningDuringTool = limiter.running;
      return { output: `result of ${call.callId}`, isError: false, durationMs: 1 };
    };
    acquisitions = 0;
    const resumed = memoryLog(fresh.steps.slice(0, 1));
    const again = await runToolTurn(d, input(resumed), { signal: signal(), permit: await reserve() });
    expect(again.kind).toBe("success");
    expect(runningDuringTool).toBe(0);
    expect(acquisitions).toBe(1);
    expect(limiter.running).toBe(0);
  });

  it("fails once max_steps model calls asked for tools", async () => {
    const log = memoryLog();
    const d = deps([], []);
    d.providers = fakeProviders(async () => ({
      kind: "success",
      text: "",
      usage: { promptTokens: 1, completionTokens: 1 },
      model: "model",
      toolCalls: [{ id: "p", name: "lookup", arguments: "{}" }],
    }));
    const result = await runToolTurn(d, input(log), { signal: signal() });
    expect(result).toMatchObject({
      kind: "failed",
      code: 400,
      message: "max_steps (4) reached without a final answer",
    });
    expect(log.steps.filter((s) => s.kind === "model")).toHaveLength(4);
  });

  it("stops (aborted) when a step cannot be stored: the item is no longer this run's", async () => {
    const log = memoryLog();
    log.append = async () => false;
    const toolCalls: string[] = [];
    const result = await runToolTurn(deps([], toolCalls), input(log), { signal: signal() });
    expect(result.kind).toBe("aborted");
    expect(toolCalls).toEqual([]);
  });

  describe("with a response_format", () => {
    /** Calls the tool, then answers invalid JSON; the repair call (no tools offered) answers valid JSON. */
    function repairingModel(requests: ModelRequest[]) {
      const tooling = lookupModel([]);
      return async (request: ModelRequest): Promise<ModelSuccess> => {
        requests.push(request);
        if (!request.tools)
          return {
            kind: "success",
            text: '{"fixed":true}',
            usage: { promptTokens: 7, completionTokens: 3 },
            model: "model",
          };
        const reply = await tooling(request);
        return reply.toolCalls ? reply : { ...reply, text: '{"broken":' };
      };
    }
    const structured = (log: StepLog) => {
      const i = input(log);
      return {
        ...i,
        turn: { ...i.turn, agent: { ...agent, responseFormat: { type: "json_object" as const } } },
      };
    };

    it("stores the repair call as the model step after the answer, and replays it on resume", async () => {
      const requests: ModelRequest[] = [];
      const d = deps([], []);
      d.providers = fakeProviders(repairingModel(requests));
      const log = memoryLog();
      const result = await runToolTurn(d, structured(log), { signal: signal() });
      expect(result).toMatchObject({ kind: "success", text: '{"fixed":true}', json: { fixed: true } });
      expect(requests).toHaveLength(3);
      expect(log.steps.map((s) => [s.index, s.kind, s.payload.repair ?? false])).toEqual([
        [0, "model", false],
        [1, "tool", false],
        [2, "model", false],
        [3, "model", true],
      ]);
      expect(log.steps[3]).toMatchObject({ promptTokens: 7, completionTokens: 3 });
      if (result.kind !== "success") return;
      expect(result.calls).toHaveLength(3);
      expect(result.usage).toEqual({ promptTokens: 27, completionTokens: 7 });

      // Resumed after the repair step was stored (a crash before the outcome was committed):
      // no model call again, the same answer, each call counted once.
      const again: ModelRequest[] = [];
      d.providers = fakeProviders(repairingModel(again));
      const resumed = await runToolTurn(d, structured(memoryLog(log.steps)), { signal: signal() });
      expect(again).toEqual([]);
      expect(resumed).toMatchObject({ kind: "success", json: { fixed: true } });
      if (resumed.kind === "success") {
        expect(resumed.calls).toHaveLength(3);
        expect(resumed.usage).toEqual(result.usage);
      }

      // Resumed after the invalid answer but before the repair was stored: only the repair is asked.
      const onlyRepair: ModelRequest[] = [];
      d.providers = fakeProviders(repairingModel(onlyRepair));
      const partial = memoryLog(log.steps.slice(0, 3));
      await runToolTurn(d, structured(partial), { signal: signal() });
      expect(onlyRepair).toHaveLength(1);
      expect(onlyRepair[0].tools).toBeUndefined();
      expect(partial.steps.map((s) => s.index)).toEqual([0, 1, 2, 3]);
    });

    it("stops (aborted) when the repair step cannot be stored", async () => {
      const d = deps([], []);
      d.providers = fakeProviders(repairingModel([]));
      const log = memoryLog();
      const append = log.append;
      log.append = async (s) => (s.payload.repair ? false : append(s));
      const result = await runToolTurn(d, structured(log), { signal: signal() });
      expect(result.kind).toBe("aborted");
    });
  });
});
