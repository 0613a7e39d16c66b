import { countTokens } from "./text.js";

/** Vector length when neither the request nor the model name says. */
export const DEFAULT_SIMULATED_DIMENSIONS = 256;
/** Longest vector the simulator makes (text-embedding-3-large's length). */
export const MAX_SIMULATED_DIMENSIONS = 3072;

/** OpenAI's models' lengths, so a batch written for them gets vectors of the size it expects. */
const MODEL_DIMENSIONS: [RegExp, number][] = [
  [/text-embedding-3-large/, 3072],
  [/text-embedding-3-small|text-embedding-ada-002/, 1536],
];

/** The length of a simulated model's vectors: `dimensions`, else the model's, else 256. */
export function simulatedDimensions(model: string, dimensions?: number): number {
  if (dimensions !== undefined) return dimensions;
  for (const [pattern, length] of MODEL_DIMENSIONS) if (pattern.test(model)) return length;
  return DEFAULT_SIMULATED_DIMENSIONS;
}

const WORD = /[\p{L}\p{N}]+/gu;

/**
 * A deterministic unit vector for `text`: each word (lower-cased) adds ±1 at two positions
 * chosen by its hash (feature hashing), so the same text always gives the same vector and
 * texts sharing words point the same way. A text without words gets the first basis vector.
 */
export function embedText(text: string, dimensions: number): number[] {
  const vector = new Array<number>(dimensions).fill(0);
  for (const match of text.toLowerCase().matchAll(WORD)) {
    const h = fnv1a(match[0]);
    vector[h % dimensions] += h & 0x80000000 ? -1 : 1;
    const g = Math.imul(h ^ (h >>> 16), 0x45d9f3b) >>> 0;
    vector[g % dimensions] += g & 1 ? -0.5 : 0.5;
  }
  let norm = 0;
  for (const v of vector) norm += v * v;
  if (norm === 0) {
    vector[0] = 1;
    return vector;
  }
  const scale = 1 / Math.sqrt(norm);
  for (let i = 0; i < dimensions; i++) vector[i] *= scale;
  return vector;
}

/** Tokens an embeddings call counts: the same four-characters rule as chat calls. */
export function embeddingTokens(input: string[]): number {
  let tokens = 0;
  for (const text of input) tokens += Math.max(1, countTokens(text));
  return tokens;
}

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
