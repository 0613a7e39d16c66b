/**
 * Reads an agent's `tools` and `max_steps` from the API's snake_case shape, refusing what cannot
 * run with a message naming the field (`tools[0].url must be https`). Pure: the route turns a
 * thrown `ToolDefinitionError` into a 400.
 */
import { Ajv } from "ajv";
import type { AgentTool } from "../../store/types.js";
import { validateMcpToolDef } from "./mcp-validate.js";

export class ToolDefinitionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ToolDefinitionError";
  }
}

export interface ToolRules {
  /** Origins (`http://127.0.0.1:9000`) http tools may use besides https URLs. */
  trustedOrigins: readonly string[];
}

export const MAX_TOOLS = 64;
export const MAX_STEPS_LIMIT = 50;
const NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const FIELDS: Record<string, readonly string[]> = {
  http: ["type", "name", "description", "parameters", "url", "secret", "timeout_ms"],
  client: ["type", "name", "description", "parameters"],
};
const schemaCompiler = new Ajv({ strict: false, allErrors: false });

function fail(message: string): never {
  throw new ToolDefinitionError(message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A JSON Schema of an arguments object: `type: "object"` and compilable. */
function parameters(raw: unknown, at: string): Record<string, unknown> {
  if (raw === undefined) return { type: "object", properties: {} };
  if (!isObject(raw)) fail(`${at}.parameters must be a JSON Schema object`);
  if (raw.type !== "object") fail(`${at}.parameters must be a JSON Schema with type "object"`);
  try {
    schemaCompiler.compile(raw);
  } catch (err) {
    fail(`${at}.parameters is not a valid JSON Schema: ${(err as Error).message}`);
  }
  return raw;
}

function httpUrl(raw: unknown, at: string, rules: ToolRules): string {
  if (typeof raw !== "string") fail(`${at}.url is required (a string)`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    fail(`${at}.url is not an absolute URL`);
  }
  if (url.protocol === "https:") return raw;
  if (url.protocol === "http:" && rules.trustedOrigins.includes(url.origin)) return raw;
  return fail(`${at}.url must be https (http only to an origin in tools.trusted_origins)`);
}

function optionalString(raw: unknown, field: string, max: number): string | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== "string" || raw.length > max)
    fail(`${field} must be a string of at most ${max} characters`);
  return raw;
}

function parseTool(raw: unknown, i: number, rules: ToolRules): AgentTool {
  const at = `tools[${i}]`;
  if (!isObject(raw)) fail(`${at} must be an object`);
  if (raw.type === "mcp") return parseMcp(raw, at);
  if (raw.type !== "http" && raw.type !== "client") fail(`${at}.type must be http or client`);
  const allowed = FIELDS[raw.type];
  for (const key of Object.keys(raw)) {
    if (!allowed.includes(key)) fail(`${at}.${key} is not a field of a ${raw.type} tool`);
  }
  if (typeof raw.name !== "string" || !NAME.test(raw.name)) {
    fail(`${at}.name must match ^[a-zA-Z0-9_-]{1,64}$`);
  }
  const base = {
    name: raw.name,
    description: optionalString(raw.description, `${at}.description`, 4000),
    parameters: parameters(raw.parameters, at),
  };
  if (raw.type === "client") return { type: "client", ...base };
  const timeout = raw.timeout_ms;
  if (timeout !== undefined && timeout !== null) {
    if (!Number.isInteger(timeout) || (timeout as number) < 100 || (timeout as number) > 300_000) {
      fail(`${at}.timeout_ms must be an integer from 100 to 300000`);
    }
  }
  return {
    type: "http",
    ...base,
    url: httpUrl(raw.url, at, rules),
    secret: optionalString(raw.secret, `${at}.secret`, 512),
    timeoutMs: (timeout as number | undefined) ?? null,
  };
}

/** An MCP server's definition, checked; its tools are listed later (`listAgentMcpTools`). */
function parseMcp(raw: Record<string, unknown>, at: string): AgentTool {
  const errors = validateMcpToolDef(raw, at);
  if (errors.length > 0) fail(`${errors[0].field} ${errors[0].message}`);
  const server = raw as unknown as Extract<AgentTool, { type: "mcp" }>["server"];
  return {
    type: "mcp",
    name: new URL(server.server_url).host,
    description: null,
    parameters: { type: "object" },
    server,
    tools: [],
  };
}

/** The names the model is offered: each tool's, an MCP server's listed tools' own. */
export function offeredNames(tools: AgentTool[]): string[] {
  return tools.flatMap((t) => (t.type === "mcp" ? t.tools.map((x) => x.name) : [t.name]));
}

/** Refuses two offered tools of the same name (an MCP tool may clash with another's). */
export function checkOfferedNames(tools: AgentTool[]): void {
  const seen = new Set<string>();
  for (const name of offeredNames(tools)) {
    if (seen.has(name)) fail(`tools: two tools are named "${name}"`);
    seen.add(name);
  }
}

/** The agent's tools, checked; throws ToolDefinitionError naming the first bad field. */
export function parseTools(raw: unknown, rules: ToolRules): AgentTool[] {
  if (!Array.isArray(raw)) fail("tools must be an array");
  if (raw.length > MAX_TOOLS) fail(`tools has more than ${MAX_TOOLS} entries`);
  const tools = raw.map((t, i) => parseTool(t, i, rules));
  const seen = new Map<string, number>();
  tools.forEach((t, i) => {
    if (t.type === "mcp") return;
    const first = seen.get(t.name);
    if (first !== undefined) fail(`tools[${i}].name "${t.name}" is a duplicate of tools[${first}].name`);
    seen.set(t.name, i);
  });
  return tools;
}

/** The wire shape of a tool (the secret is never returned, only whether one is set). */
export function toolToWire(t: AgentTool): Record<string, unknown> {
  const base = { type: t.type, name: t.name, description: t.description, parameters: t.parameters };
  if (t.type === "client") return base;
  if (t.type === "mcp") {
    return {
      type: "mcp",
      server_url: t.server.server_url,
      has_headers: Boolean(t.server.headers),
      allowed_tools: t.server.allowed_tools ?? null,
      tools: t.tools,
    };
  }
  return { ...base, url: t.url, has_secret: t.secret !== null, timeout_ms: t.timeoutMs };
}
