/**
 * A deterministic value that conforms to a JSON Schema: what the simulated model and mock-llm
 * answer for structured output, and the arguments they pass to a tool. Required properties are
 * filled (optional ones left out), enums and consts take their first value, numbers respect
 * their bounds, arrays their minimum length, strings their length and common formats; strings
 * are taken from `text` (the user's message) so tests can see the input reach the output.
 *
 * Written here because no maintained library generates a *deterministic, minimal* instance
 * (json-schema-faker is random and heavy); the subset covers what structured-output and tool
 * schemas use in practice (OpenAI's strict mode subset, plus bounds and formats).
 */

type Schema = Record<string, unknown>;

export interface SampleOptions {
  /** Text strings are drawn from. */
  text?: string;
  /** Fill optional properties too (default false: only required ones). */
  allProperties?: boolean;
}

const MAX_DEPTH = 12;

export function sampleFromSchema(schema: unknown, options: SampleOptions = {}): unknown {
  const root = isObject(schema) ? schema : {};
  return sample(root, root, options, 0);
}

function isObject(v: unknown): v is Schema {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `#/$defs/x` or `#/definitions/x` inside the root schema. */
function resolveRef(root: Schema, ref: string): Schema {
  if (!ref.startsWith("#/")) return {};
  let node: unknown = root;
  for (const part of ref.slice(2).split("/")) {
    node = isObject(node) ? node[part.replace(/~1/g, "/").replace(/~0/g, "~")] : undefined;
  }
  return isObject(node) ? node : {};
}

function sample(schema: Schema, root: Schema, options: SampleOptions, depth: number): unknown {
  if (depth > MAX_DEPTH) return null;
  if (typeof schema.$ref === "string") return sample(resolveRef(root, schema.$ref), root, options, depth + 1);
  if ("const" in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  if ("default" in schema && schema.default !== undefined) return schema.default;
  for (const key of ["anyOf", "oneOf"] as const) {
    const options_ = schema[key];
    if (Array.isArray(options_) && options_.length > 0) {
      const pick = options_.find((s) => isObject(s) && s.type !== "null") ?? options_[0];
      return sample(isObject(pick) ? pick : {}, root, options, depth + 1);
    }
  }
  if (Array.isArray(schema.allOf)) {
    const merged = Object.assign({}, ...schema.allOf.filter(isObject), { allOf: undefined });
    return sample(merged, root, options, depth + 1);
  }
  switch (primaryType(schema)) {
    case "object":
      return sampleObject(schema, root, options, depth);
    case "array":
      return sampleArray(schema, root, options, depth);
    case "string":
      return sampleString(schema, options.text ?? "");
    case "integer":
      return sampleNumber(schema, true);
    case "number":
      return sampleNumber(schema, false);
    case "boolean":
      return true;
    case "null":
      return null;
    default:
      return null;
  }
}

function primaryType(schema: Schema): string | undefined {
  const t = schema.type;
  if (typeof t === "string") return t;
  if (Array.isArray(t)) return (t.find((x) => x !== "null") ?? t[0]) as string | undefined;
  if (isObject(schema.properties)) return "object";
  if (schema.items !== undefined) return "array";
  return undefined;
}

function sampleObject(
  schema: Schema,
  root: Schema,
  options: SampleOptions,
  depth: number,
): Record<string, unknown> {
  const props = isObject(schema.properties) ? schema.properties : {};
  const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
  const out: Record<string, unknown> = {};
  for (const [name, prop] of Object.entries(props)) {
    if (!required.has(name) && !options.allProperties) continue;
    out[name] = sample(isObject(prop) ? prop : {}, root, options, depth + 1);
  }
  for (const name of required) if (!(name in out)) out[name] = "";
  const min = typeof schema.minProperties === "number" ? schema.minProperties : 0;
  for (let i = Object.keys(out).length; i < min; i++) out[`property_${i}`] = null;
  return out;
}

function sampleArray(schema: Schema, root: Schema, options: SampleOptions, depth: number): unknown[] {
  const min = typeof schema.minItems === "number" ? schema.minItems : 0;
  const count = Math.max(
    min,
    Array.isArray(schema.prefixItems) ? schema.prefixItems.length : 0,
    min === 0 ? 1 : min,
  );
  const max = typeof schema.maxItems === "number" ? schema.maxItems : count;
  const n = Math.min(count, max);
  const prefix = Array.isArray(schema.prefixItems) ? schema.prefixItems : [];
  const items = isObject(schema.items) ? schema.items : {};
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const s = isObject(prefix[i]) ? (prefix[i] as Schema) : items;
    let v = sample(s, root, options, depth + 1);
    // uniqueItems with a scalar item schema: make the values differ.
    if (schema.uniqueItems === true && typeof v === "string") v = `${v}${i === 0 ? "" : ` ${i}`}`;
    if (schema.uniqueItems === true && typeof v === "number") v = v + i;
    out.push(v);
  }
  return out;
}

const FORMATS: Record<string, string> = {
  "date-time": "2025-01-01T00:00:00Z",
  date: "2025-01-01",
  time: "00:00:00Z",
  email: "user@example.com",
  uri: "https://example.com/",
  url: "https://example.com/",
  uuid: "00000000-0000-4000-8000-000000000000",
  hostname: "example.com",
  ipv4: "192.0.2.1",
  ipv6: "2001:db8::1",
};

function sampleString(schema: Schema, text: string): string {
  if (typeof schema.format === "string" && FORMATS[schema.format]) return FORMATS[schema.format];
  const min = typeof schema.minLength === "number" ? schema.minLength : 0;
  const max = typeof schema.maxLength === "number" ? schema.maxLength : Number.POSITIVE_INFINITY;
  let s = text.length > 0 ? text : "sample";
  while (s.length < min) s += s.length > 0 ? ` ${s}` : "x";
  if (s.length > max) s = [...s].slice(0, max).join("");
  return s;
}

function sampleNumber(schema: Schema, integer: boolean): number {
  const lower = bound(schema.minimum, schema.exclusiveMinimum, integer, 1);
  const upper = bound(schema.maximum, schema.exclusiveMaximum, integer, -1);
  let v = lower ?? (upper !== undefined ? Math.min(0, upper) : 0);
  if (upper !== undefined && v > upper) v = upper;
  const step = typeof schema.multipleOf === "number" && schema.multipleOf > 0 ? schema.multipleOf : undefined;
  if (step) v = Math.ceil(v / step) * step;
  return integer ? Math.ceil(v) : v;
}

/** The inclusive bound a minimum / exclusive minimum (or maximum) gives; `dir` is +1 for lower bounds. */
function bound(inclusive: unknown, exclusive: unknown, integer: boolean, dir: 1 | -1): number | undefined {
  if (typeof exclusive === "number") return integer ? exclusive + dir : exclusive + dir * 1e-6;
  if (typeof inclusive === "number") return inclusive;
  return undefined;
}
