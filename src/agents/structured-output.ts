/**
 * Structured output that is guaranteed valid: the final answer of a turn whose request has a
 * `json_object` / `json_schema` response format is parsed and validated (ajv); an invalid answer
 * gets one repair step (the answer and the validation errors sent back to the model, the call
 * counted in the turn's usage); still invalid, the turn fails with 422 and the errors.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import type { ModelCallUsage } from "../domain/usage.js";
import type { ModelRequest, ResponseFormat, TokenUsage } from "../providers/types.js";

export type StructuredFormat = Exclude<ResponseFormat, { type: "text" }>;

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/**
 * One validator instance for answer schemas: every error reported (the repair step sends them
 * all), formats checked, keywords ajv does not know tolerated (providers' schemas carry some),
 * and schemas with an `$id` not registered (two agents may reuse an id).
 */
const options = { allErrors: true, strict: false, addUsedSchema: false, logger: false } as const;
const ajv = addFormats(new Ajv(options));
/** Schemas that declare draft 2020-12 (`$schema`) are compiled by ajv's 2020 dialect. */
const ajv2020 = addFormats(new Ajv2020(options) as unknown as Ajv);

function ajvFor(schema: Record<string, unknown>): Ajv {
  return typeof schema.$schema === "string" && schema.$schema.includes("2020-12") ? ajv2020 : ajv;
}

/** Compiled validators by schema text: 10,000 items of one agent version compile once. */
const compiled = new Map<string, ValidateFunction>();
/** The same schema object (an agent version cached by the engine) skips even the stringify. */
const byObject = new WeakMap<object, ValidateFunction>();
const MAX_COMPILED = 256;
/** At most this many validation errors are reported (to the model and in the 422). */
const MAX_ERRORS = 10;

export type CompileResult = { ok: true; validate: ValidateFunction } | { ok: false; message: string };

/** The validator of `schema`, compiled once and cached, or why the schema does not compile. */
export function compileSchema(schema: Record<string, unknown>): CompileResult {
  const cached = byObject.get(schema);
  if (cached) return { ok: true, validate: cached };
  const key = JSON.stringify(schema);
  let validate = compiled.get(key);
  if (!validate) {
    try {
      validate = ajvFor(schema).compile(schema);
    } catch (err) {
      return { ok: false, message: (err as Error).message };
    }
    if (compiled.size >= MAX_COMPILED) evictOldest();
    compiled.set(key, validate);
  }
  byObject.set(schema, validate);
  return { ok: true, validate };
}

function evictOldest(): void {
  const oldest = compiled.entries().next().value;
  if (!oldest) return;
  compiled.delete(oldest[0]);
  const schema = oldest[1].schema as Record<string, unknown>;
  ajvFor(schema).removeSchema(schema);
}

/**
 * Why `schema` cannot be an agent's answer schema, or null: it must compile, and its root must
 * be an object (`type: "object"`), as OpenAI's strict mode and Anthropic's tool input require.
 * The message names the field under `response_format.json_schema.schema`.
 */
export function answerSchemaProblem(schema: Record<string, unknown>): string | null {
  const field = "response_format.json_schema.schema";
  const result = compileSchema(schema);
  if (!result.ok) return `${field}: ${result.message}`;
  if (schema.type !== "object") return `${field}.type: the root of the schema must be "object"`;
  return null;
}

/** The structured format a request asks for, or undefined for free text. */
export function structuredFormat(request: ModelRequest): StructuredFormat | undefined {
  const format = request.responseFormat;
  return format === undefined || format.type === "text" ? undefined : format;
}

export type AnswerCheck = { ok: true; value: unknown } | { ok: false; errors: string[] };

/** Parses an answer and checks it against the format: any JSON object, or the schema. */
export function checkAnswer(format: StructuredFormat, text: string): AnswerCheck {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, errors: [`the answer is not valid JSON (${(err as Error).message})`] };
  }
  if (format.type === "json_object") {
    const isObject = typeof value === "object" && value !== null && !Array.isArray(value);
    return isObject ? { ok: true, value } : { ok: false, errors: ["the answer is not a JSON object"] };
  }
  const schema = compileSchema(format.jsonSchema.schema);
  if (!schema.ok) return { ok: false, errors: [`the schema does not compile: ${schema.message}`] };
  if (schema.validate(value)) return { ok: true, value };
  return { ok: false, errors: errorLines(schema.validate.errors ?? []) };
}

/** ajv's errors as lines like `/score must be number` (`/` is the answer itself). */
function errorLines(errors: ErrorObject[]): string[] {
  const lines = errors.slice(0, MAX_ERRORS).map((e) => {
    const extra = e.keyword === "additionalProperties" ? ` (${String(e.params.additionalProperty)})` : "";
    return `${e.instancePath || "/"} ${e.message ?? e.keyword}${extra}`;
  });
  if (errors.length > MAX_ERRORS) lines.push(`and ${errors.length - MAX_ERRORS} more`);
  return lines;
}

/** The request of the repair step: the invalid answer, then what is wrong with it. */
export function repairRequest(request: ModelRequest, answer: string, errors: string[]): ModelRequest {
  const text = [
    "Your answer does not match the required response format:",
    ...errors.map((e) => `- ${e}`),
    "Answer again with only the JSON, corrected.",
  ].join("\n");
  return {
    ...request,
    messages: [...request.messages, { role: "assistant", content: answer }, { role: "user", content: text }],
  };
}

/** The success fields this step reads and adds to (a `TurnResult` success). */
export interface StructuredAnswer {
  kind: "success";
  upstream: { provider: string; model: string };
  text: string;
  usage: TokenUsage;
  calls: ModelCallUsage[];
  callMs: number;
  /** The parsed, validated answer. */
  json?: unknown;
}

interface StructuredFailure {
  kind: "failed";
  upstream: { provider: string; model: string };
  code: number;
  message: string;
  /** The tokens both calls spent (the provider billed them). */
  spent: { upstream: { provider: string; model: string }; usage: TokenUsage; calls: ModelCallUsage[] };
}

/**
 * The turn's result once its answer is checked: the first answer with its parsed value, or the
 * repair step's (its call and usage added to the first's), or a 422 with the validation errors.
 * A repair call that does not succeed (retryable, failed, aborted) is the turn's result as it is.
 */
export async function settleStructured<T extends { kind: string }>(
  format: StructuredFormat,
  request: ModelRequest,
  first: T & StructuredAnswer,
  callAgain: (request: ModelRequest) => Promise<T>,
): Promise<T | StructuredFailure> {
  const check = checkAnswer(format, first.text);
  if (check.ok) return { ...first, json: check.value };
  const second = await callAgain(repairRequest(request, first.text, check.errors));
  if (!isAnswer(second)) return second.kind === "failed" ? withFirst(second, first) : second;
  const merged = {
    ...second,
    usage: addUsage(first.usage, second.usage),
    calls: [...first.calls, ...second.calls],
    callMs: first.callMs + second.callMs,
  };
  const again = checkAnswer(format, second.text);
  if (again.ok) return { ...merged, json: again.value };
  return {
    kind: "failed",
    upstream: second.upstream,
    code: 422,
    message: `the answer does not match the response_format${
      format.type === "json_schema" ? ` schema "${format.jsonSchema.name}"` : " (a JSON object)"
    } after one repair step: ${again.errors.join("; ")}`,
    spent: { upstream: second.upstream, usage: merged.usage, calls: merged.calls },
  };
}

/** A repair call that failed outright: the first call's tokens were still spent. */
function withFirst<T>(second: T, first: StructuredAnswer): T | StructuredFailure {
  const failed = second as unknown as StructuredFailure;
  if (failed.upstream === null || failed.spent) return second;
  return { ...failed, spent: { upstream: first.upstream, usage: first.usage, calls: first.calls } };
}

function isAnswer<T extends { kind: string }>(r: T): r is T & StructuredAnswer {
  return r.kind === "success";
}

function addUsage(a: TokenUsage, b: TokenUsage): TokenUsage {
  const sum: TokenUsage = {
    ...b,
    promptTokens: a.promptTokens + b.promptTokens,
    completionTokens: a.completionTokens + b.completionTokens,
  };
  for (const key of ["cachedPromptTokens", "cacheCreationTokens", "reasoningTokens"] as const) {
    if (a[key] !== undefined || b[key] !== undefined) sum[key] = (a[key] ?? 0) + (b[key] ?? 0);
  }
  return sum;
}
