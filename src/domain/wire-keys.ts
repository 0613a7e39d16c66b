/**
 * The one check of a wire object's keys, shared by every request shape (OpenAI chat messages and
 * content parts, Anthropic blocks, Responses items): a key nothing reads is never dropped in
 * silence. Each shape turns the problem into its own error, naming the field path.
 */

/** `unknown`: no field of that name; `refused`: a known field agentbatch cannot honour, set. */
export type KeyProblem = { key: string; kind: "unknown" | "refused" };

/**
 * The first key of `obj` that is neither in `known` nor in `refused`, else the first key of
 * `refused` that is set (null and undefined are unset, as response objects carry them): null
 * when every key is taken as written.
 */
export function keyProblem(
  obj: Readonly<Record<string, unknown>>,
  known: readonly string[],
  refused: readonly string[] = [],
): KeyProblem | null {
  for (const key of Object.keys(obj)) {
    if (refused.includes(key)) {
      if (obj[key] !== undefined && obj[key] !== null) return { key, kind: "refused" };
    } else if (!known.includes(key)) return { key, kind: "unknown" };
  }
  return null;
}
