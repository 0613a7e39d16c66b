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
