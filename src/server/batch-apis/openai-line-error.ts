import { keyProblem } from "../../domain/wire-keys.js";

/** An input line OpenAI would refuse: its code, message and the parameter it names. */
export class LineError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

export type Json = Record<string, unknown>;

export const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** `body[key]` when it is set (neither absent nor null). */
export const isSet = (v: unknown): boolean => v !== undefined && v !== null;

export function invalid(param: string, message: string): LineError {
  return new LineError("invalid_value", `${param}: ${message}`, param);
}

export function numberIn(v: unknown, min: number, max: number, param: string): number {
  if (typeof v !== "number" || v < min || v > max)
    throw invalid(param, `must be a number from ${min} to ${max}`);
  return v;
}

export function intIn(v: unknown, min: number, max: number, param: string): number {
  if (!Number.isInteger(v) || (v as number) < min || (v as number) > max) {
    throw invalid(param, `must be an integer from ${min} to ${max}`);
  }
  return v as number;
}

/**
 * Every key of `obj` (at `at`) must be in `known`: another key fails the line as OpenAI's
 * "Unrecognized request argument"; a key of `refused` (one agentbatch sends to no provider)
 * fails it when set.
 */
export function checkKeys(
  obj: Json,
  known: readonly string[],
  at: string,
  refused: readonly string[] = [],
): void {
  const problem = keyProblem(obj, known, refused);
  if (problem === null) return;
  const param = `${at}.${problem.key}`;
  if (problem.kind === "unknown") {
    throw new LineError("invalid_value", `Unrecognized request argument supplied: ${param}`, param);
  }
  throw invalid(param, "not supported by agentbatch (no provider here is sent it)");
}
