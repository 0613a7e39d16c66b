/**
 * The shape rules of an `mcp` tool definition, checked when an agent is written: every problem
 * is reported with the path of its field (`tools[2].server_url`), and unknown fields are errors
 * rather than silently ignored. Whether the server answers is checked later, at publish.
 */

export interface McpFieldError {
  /** The field's path, e.g. `tools[2].headers.Authorization`. */
  field: string;
  message: string;
}

const KNOWN_FIELDS = new Set(["type", "server_url", "headers", "allowed_tools"]);
/** RFC 9110 token characters: what a header name may contain. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function serverUrlErrors(value: unknown, field: string): McpFieldError[] {
  if (typeof value !== "string" || value === "") {
    return [{ field, message: "is required: the MCP server's Streamable HTTP URL (http or https)" }];
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return [{ field, message: `${JSON.stringify(value)} is not an absolute URL` }];
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return [{ field, message: `must be an http or https URL, not ${url.protocol}//` }];
  }
  return [];
}

function headersErrors(value: unknown, field: string): McpFieldError[] {
  if (value === undefined) return [];
  if (!isPlainObject(value)) return [{ field, message: "must be an object of header name to string value" }];
  const errors: McpFieldError[] = [];
  for (const [name, v] of Object.entries(value)) {
    const at = `${field}.${name}`;
    if (!HEADER_NAME.test(name)) errors.push({ field: at, message: "is not a valid HTTP header name" });
    else if (typeof v !== "string") errors.push({ field: at, message: "must be a string" });
    else if (/[\r\n\0]/.test(v)) errors.push({ field: at, message: "must not contain line breaks or NUL" });
  }
  return errors;
}

function allowedToolsErrors(value: unknown, field: string): McpFieldError[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) return [{ field, message: "must be an array of tool names" }];
  if (value.length === 0) {
    return [
      { field, message: "must name at least one tool (leave it out to allow every tool of the server)" },
    ];
  }
  const errors: McpFieldError[] = [];
  const seen = new Set<string>();
  value.forEach((name, i) => {
    const at = `${field}[${i}]`;
    if (typeof name !== "string" || name === "")
      errors.push({ field: at, message: "must be a non-empty string" });
    else if (seen.has(name)) errors.push({ field: at, message: `repeats ${JSON.stringify(name)}` });
    else seen.add(name);
  });
  return errors;
}

/**
 * Checks one `{type: "mcp", server_url, headers?, allowed_tools?}` definition found at `path`
 * (e.g. `tools[2]`); returns no errors when it is well formed.
 */
export function validateMcpToolDef(def: unknown, path: string): McpFieldError[] {
  if (!isPlainObject(def)) return [{ field: path, message: "must be an object" }];
  const errors: McpFieldError[] = [];
  if (def.type !== "mcp") errors.push({ field: `${path}.type`, message: 'must be "mcp"' });
  for (const key of Object.keys(def)) {
    if (!KNOWN_FIELDS.has(key)) {
      errors.push({
        field: `${path}.${key}`,
        message: "is not a field of an mcp tool (server_url, headers, allowed_tools)",
      });
    }
  }
  errors.push(...serverUrlErrors(def.server_url, `${path}.server_url`));
  errors.push(...headersErrors(def.headers, `${path}.headers`));
  errors.push(...allowedToolsErrors(def.allowed_tools, `${path}.allowed_tools`));
  return errors;
}
