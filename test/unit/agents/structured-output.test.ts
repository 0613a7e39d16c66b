import { describe, expect, it } from "vitest";
import { runTurn, type TurnDeps } from "../../../src/agents/run-turn.js";
import {
  answerSchemaProblem,
  checkAnswer,
  compileSchema,
  type StructuredFormat,
} from "../../../src/agents/structured-output.js";
import { LimiterRegistry } from "../../../src/providers/rate-limiter.js";
import type { ModelRequest } from "../../../src/providers/types.js";
import type { AgentConfig, AgentResponseFormat } from "../../../src/store/types.js";
import { type Complete, fakeProviders, success } from "../engine/harness.js";

const schema = {
  type: "object",
  properties: {
    label: { type: "string", enum: ["yes", "no"] },
    score: { type: "number", minimum: 0, maximum: 1 },
    tags: { type: "array", items: { type: "string" }, minItems: 1 },
  },
  required: ["label", "score", "tags"],
  additionalProperties: false,
};
const jsonSchema: AgentResponseFormat = { type: "json_schema", jsonSchema: { name: "verdict", schema } };

function agentTurn(responseFormat: AgentResponseFormat | null) {
  const agent: AgentConfig = {
    model: "fake/model",
    systemPrompt: null,
    temperature: null,
    maxTokens: null,
    settings: {},
    responseFormat,
  };
  return { agent, message: "classify this", history: [] };
}

/** A provider answering `answers` in turn, recording each request. */
function scripted(
  answers: string[],
): Omit<TurnDeps, "limiters"> & { requests: ModelRequest[]; limiters: LimiterRegistry } {
  const requests: ModelRequest[] = [];
  const complete: Complete = async (request, _signal, onDelta) => {
    requests.push(request);
    const text = answers[Math.min(requests.length - 1, answers.length - 1)];
    onDelta?.(text);
    return success(text);
  };
  return {
    providers: fakeProviders(complete),
    limiters: new LimiterRegistry(() => ({ maxConcurrency: 1 }), 8),
    requests,
  };
}

const run = (d: TurnDeps, format: AgentResponseFormat | null) =>
  runTurn(d, agentTurn(format), { signal: new AbortController().signal });

const valid = JSON.stringify({ label: "yes", score: 0.5, tags: ["a"] });

describe("structured output in a turn", () => {
  it("returns a valid answer parsed, with one model call, and sends the format to the model", async () => {
    const d = scripted([valid]);
    const result = await run(d, jsonSchema);
    expect(result).toMatchObject({ kind: "success", text: valid, json: JSON.parse(valid) });
    expect(result.kind === "success" && result.calls).toHaveLength(1);
    expect(d.requests[0].responseFormat).toEqual(jsonSchema);
    expect(d.limiters.get("fake").running).toBe(0);
  });

  it("repairs an invalid answer once: the errors go back to the model and both calls count", async () => {
    const d = scripted([JSON.stringify({ label: "maybe", score: 2 }), valid]);
    const result = await run(d, jsonSchema);
    expect(result).toMatchObject({ kind: "success", text: valid, json: JSON.parse(valid) });
    if (result.kind !== "success") throw new Error("expected success");
    expect(result.calls).toHaveLength(2);
    expect(result.usage).toMatchObject({ promptTokens: 6, completionTokens: 10 });
    const repair = d.requests[1].messages;
    expect(repair.map((m) => m.role)).toEqual(["user", "assistant", "user"]);
    expect(repair[1].content).toBe(JSON.stringify({ label: "maybe", score: 2 }));
    const feedback = String(repair[2].content);
    expect(feedback).toContain("/label must be equal to one of the allowed values");
    expect(feedback).toContain("/score must be <= 1");
    expect(feedback).toContain("must have required property 'tags'");
    expect(d.requests[1].responseFormat).toEqual(jsonSchema);
    expect(d.limiters.get("fake").running).toBe(0);
  });

  it("fails 422 with the validation errors when the repaired answer is still invalid", async () => {
    const d = scripted(['{"label": "yes"', JSON.stringify({ label: "yes", score: 0.1, tags: [], x: 1 })]);
    const result = await run(d, jsonSchema);
    expect(result).toMatchObject({ kind: "failed", code: 422, upstream: { provider: "fake" } });
    if (result.kind !== "failed") throw new Error("expected failure");
    expect(result.message).toContain('schema "verdict" after one repair step');
    expect(result.message).toContain("/tags must NOT have fewer than 1 items");
    expect(result.message).toContain("must NOT have additional properties (x)");
    expect(d.requests).toHaveLength(2);
    expect(String(d.requests[1].messages[2].content)).toContain("not valid JSON");
    // Both calls were billed: the failure carries their tokens for the batch's totals.
    expect(result.spent?.calls).toHaveLength(2);
    expect(result.spent?.usage).toMatchObject({ promptTokens: 6, completionTokens: 10 });
  });

  it("json_object mode accepts any JSON object and repairs anything else", async () => {
    const ok = await run(scripted(['{"any": [1, 2]}']), { type: "json_object" });
    expect(ok).toMatchObject({ kind: "success", json: { any: [1, 2] } });
    const d = scripted(["[1, 2]", "plain text"]);
    const bad = await run(d, { type: "json_object" });
    expect(bad).toMatchObject({ kind: "failed", code: 422 });
    expect(String(d.requests[1].messages[2].content)).toContain("not a JSON object");
    expect(bad.kind === "failed" && bad.message).toContain("not valid JSON");
  });

  it("streams only the validated answer, in one delta", async () => {
    const d = scripted(["{", valid]);
    const deltas: string[] = [];
    const result = await runTurn(d, agentTurn(jsonSchema), {
      signal: new AbortController().signal,
      onDelta: (delta) => deltas.push(delta),
    });
    expect(result).toMatchObject({ kind: "success", text: valid });
    expect(deltas).toEqual([valid]);
    const failed: string[] = [];
    await runTurn(scripted(["{", "}"]), agentTurn(jsonSchema), {
      signal: new AbortController().signal,
      onDelta: (delta) => failed.push(delta),
    });
    expect(failed).toEqual([]);
  });

  it("leaves a free-text agent's answer alone (no json, no check)", async () => {
    const d = scripted(["not json at all"]);
    const result = await run(d, null);
    expect(result).toMatchObject({ kind: "success", text: "not json at all" });
    expect(result.kind === "success" && result.json).toBeUndefined();
    expect(d.requests[0].responseFormat).toBeUndefined();
  });

  it("passes on a repair call that does not succeed as the turn's result", async () => {
    let n = 0;
    const d: TurnDeps = {
      providers: fakeProviders(async () =>
        n++ === 0
          ? success("{")
          : { kind: "retryable", code: 502, message: "upstream down", rateLimited: false },
      ),
      limiters: new LimiterRegistry(() => ({ maxConcurrency: 1 }), 8),
    };
    expect(await run(d, jsonSchema)).toMatchObject({ kind: "retryable", code: 502 });
  });
});

describe("schemas", () => {
  it("compiles a schema once, by object and by text", () => {
    const a = compileSchema(schema);
    const b = compileSchema(JSON.parse(JSON.stringify(schema)));
    expect(a.ok && b.ok && a.validate === b.validate).toBe(true);
  });

  it("names the field of a schema that does not compile or is not an object", () => {
    expect(answerSchemaProblem(schema)).toBeNull();
    expect(answerSchemaProblem({ type: "object", properties: { a: { type: "strin" } } })).toMatch(
      /^response_format\.json_schema\.schema: schema is invalid/,
    );
    expect(answerSchemaProblem({ type: "array", items: {} })).toMatch(
      /^response_format\.json_schema\.schema\.type: /,
    );
  });

  it("takes draft 2020-12 schemas ($schema), unknown formats and keywords; refuses remote $refs", () => {
    const draft2020 = {
      $schema: "https://json-schema.org/draft/2020-12/schema",
      type: "object",
      properties: { pair: { type: "array", prefixItems: [{ type: "string" }, { type: "integer" }] } },
      required: ["pair"],
    };
    expect(answerSchemaProblem(draft2020)).toBeNull();
    const format: StructuredFormat = { type: "json_schema", jsonSchema: { name: "d", schema: draft2020 } };
    expect(checkAnswer(format, '{"pair": ["a", 1]}')).toMatchObject({ ok: true });
    expect(checkAnswer(format, '{"pair": [1, "a"]}')).toMatchObject({ ok: false });
    const lenient = { type: "object", properties: { a: { type: "string", format: "foo", "x-ui": 1 } } };
    expect(answerSchemaProblem(lenient)).toBeNull();
    expect(
      answerSchemaProblem({ type: "object", properties: { a: { $ref: "https://example.com/x" } } }),
    ).toMatch(/can't resolve reference/);
  });

  it("checks formats and $defs references", () => {
    const format: StructuredFormat = {
      type: "json_schema",
      jsonSchema: {
        name: "refs",
        schema: {
          type: "object",
          $defs: { when: { type: "string", format: "date" } },
          properties: { at: { $ref: "#/$defs/when" } },
          required: ["at"],
        },
      },
    };
    expect(checkAnswer(format, '{"at": "2025-01-01"}')).toEqual({ ok: true, value: { at: "2025-01-01" } });
    expect(checkAnswer(format, '{"at": "yesterday"}')).toMatchObject({ ok: false });
  });
});
