/** The path of the field an error is about, as segments: `["requests", 3, "custom_id"]`. */
export type FieldPath = (string | number)[];

/**
 * The path as the API names it: `requests[3].custom_id` (the Codeer and OpenAI shapes), or
 * `requests.3.custom_id` with `style` "dots" (Anthropic's, as its own validation errors write
 * it). An empty path is "".
 */
export function fieldPath(path: FieldPath, style: "brackets" | "dots" = "brackets"): string {
  let out = "";
  for (const p of path) {
    const index = typeof p === "number" || /^\d+$/.test(p);
    if (style === "brackets" && index) out += `[${p}]`;
    else out += out ? `.${p}` : String(p);
  }
  return out;
}

/** The segments of a JSON pointer from a schema error (`/requests/3`), and the missing property. */
export function pointerSegments(instancePath: string, missing?: string): FieldPath {
  const parts: FieldPath = instancePath.split("/").filter(Boolean);
  if (missing) parts.push(missing);
  return parts;
}
