/** An agent's `response_format` from the wire (snake_case) to the store, checked on the way in. */
import { answerSchemaProblem } from "../agents/structured-output.js";
import type { AgentResponseFormat } from "../store/types.js";
import { badRequest } from "./errors.js";
import { assertJsonBounds } from "./json-bounds.js";
import type { WireResponseFormat } from "./wire/agents.js";

/** Largest answer schema: 64 KiB of JSON, 32 levels deep. */
const SCHEMA_BOUNDS = { maxBytes: 64 * 1024, maxDepth: 32 };

/**
 * The store's format for a request's `response_format` (undefined: not given; null: free text),
 * or a 400 naming the field: `json_schema` is required with type `json_schema` and refused with
 * `json_object`, and its schema must compile and describe an object.
 */
export function responseFormatFromWire(
  wire: WireResponseFormat | null | undefined,
): AgentResponseFormat | null | undefined {
  if (wire === undefined || wire === null) return wire;
  if (wire.type === "json_object") {
    if (wire.json_schema !== undefined) {
      throw badRequest('response_format.json_schema: only allowed with type "json_schema"');
    }
    return { type: "json_object" };
  }
  const js = wire.json_schema;
  if (js === undefined) throw badRequest('response_format.json_schema: required with type "json_schema"');
  assertJsonBounds(js.schema, "response_format.json_schema.schema", SCHEMA_BOUNDS);
  const problem = answerSchemaProblem(js.schema);
  if (problem) throw badRequest(problem);
  return { type: "json_schema", jsonSchema: { ...js } };
}
