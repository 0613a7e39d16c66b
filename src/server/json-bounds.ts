import { badRequest } from "./errors.js";

/** Bounds of a client's free-form JSON object (`metadata`, `context`). */
export interface JsonBounds {
  /** Largest serialised size, in bytes. */
  maxBytes: number;
  /** Deepest nesting of objects and arrays (the value itself is depth 1). */
  maxDepth: number;
}

export const CLIENT_OBJECT_BOUNDS: JsonBounds = { maxBytes: 16 * 1024, maxDepth: 8 };

/** The nesting depth of a JSON value, counted without recursion (a hostile value cannot blow the stack). */
export function jsonDepth(value: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (typeof v !== "object" || v === null) continue;
    deepest = Math.max(deepest, depth);
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return deepest;
}

/** A 400 naming `field` when its value is nested or sized past the bounds. */
export function assertJsonBounds(
  value: unknown,
  field: string,
  bounds: JsonBounds = CLIENT_OBJECT_BOUNDS,
): void {
  if (value === null || value === undefined) return;
  const depth = jsonDepth(value);
  if (depth > bounds.maxDepth) {
    throw badRequest(`${field}: nested ${depth} levels deep; at most ${bounds.maxDepth} are allowed`);
  }
  const bytes = Buffer.byteLength(JSON.stringify(value), "utf8");
  if (bytes > bounds.maxBytes) {
    throw badRequest(`${field}: ${bytes} bytes of JSON; at most ${bounds.maxBytes} are allowed`);
  }
}
