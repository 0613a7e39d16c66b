/** A tool-using turn's stored steps as the transcript route shows them. */
import { iso } from "../../domain/time.js";
import type { TurnStep } from "../../store/types.js";

/** Tool results are cut to this many characters in the transcript (the model saw them whole). */
const RESULT_PREVIEW_CHARS = 2048;

function preview(text: string): { text: string; truncated: boolean } {
  if (text.length <= RESULT_PREVIEW_CHARS) return { text, truncated: false };
  return { text: text.slice(0, RESULT_PREVIEW_CHARS), truncated: true };
}

/** A tool call's arguments as JSON when the model wrote valid JSON, else its text. */
export function parsedArguments(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

export function stepToWire(s: TurnStep) {
  const p = s.payload as Record<string, any>;
  const common = { index: s.index, type: s.kind, duration_ms: s.durationMs, created_at: iso(s.createdAt) };
  if (s.kind === "model") {
    return {
      ...common,
      model: p.model,
      content: p.text,
      finish_reason: p.finish_reason ?? null,
      // The one repair call of an answer that did not match the agent's response_format.
      ...(p.repair ? { repair: true } : {}),
      tool_calls: (p.tool_calls ?? []).map((c: Record<string, string>) => ({
        call_id: c.call_id,
        tool: c.name,
        arguments: parsedArguments(c.arguments),
      })),
      usage: {
        prompt_tokens: s.promptTokens,
        completion_tokens: s.completionTokens,
        total_tokens: s.promptTokens + s.completionTokens,
        ...(typeof p.cached_prompt_tokens === "number"
          ? { cached_prompt_tokens: p.cached_prompt_tokens }
          : {}),
      },
    };
  }
  const out = preview(String(p.output ?? ""));
  return {
    ...common,
    call_id: p.call_id,
    tool: p.name,
    is_error: Boolean(p.is_error),
    output: out.text,
    output_truncated: out.truncated,
  };
}
