/**
 * OpenAI's Response object (the Responses API) around an answer: its output items and usage,
 * with the request parameters a Response echoes back taken from the request body (OpenAI's
 * defaults where the request left them out). Shared by the Responses API answered through a chat
 * model (`agents/responses-via-chat.ts`) and mock-llm's `/v1/responses`.
 */

type Json = Record<string, any>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** What a Response holds of its answer; the rest is echoed from the request. */
export interface ResponseAnswer {
  /** Without the `resp_` prefix. */
  id: string;
  /** Unix seconds. */
  createdAt: number;
  model: string;
  output: Json[];
  /** The answer stopped at max_output_tokens. */
  incomplete: boolean;
  /** What the Response says of `store` (a body's own value is echoed when `store` is null). */
  store: boolean | null;
  usage: { input: number; cached: number; output: number; reasoning: number };
}

/** A tool call as a Response's `function_call` output item (`i`: its place among the answer's calls). */
export function functionCallItem(
  responseId: string,
  i: number,
  call: { id: string; name: string; arguments: string },
): Json {
  const { id, name, arguments: args } = call;
  return {
    type: "function_call",
    id: `fc_${responseId}_${i}`,
    call_id: id,
    name,
    arguments: args,
    status: "completed",
  };
}

export function responseObject(body: Json, answer: ResponseAnswer): Json {
  const { usage } = answer;
  return {
    id: `resp_${answer.id}`,
    object: "response",
    created_at: answer.createdAt,
    status: answer.incomplete ? "incomplete" : "completed",
    error: null,
    incomplete_details: answer.incomplete ? { reason: "max_output_tokens" } : null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    model: answer.model,
    output: answer.output,
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null, ...(isObject(body.reasoning) ? body.reasoning : {}) },
    store: answer.store ?? body.store ?? true,
    temperature: body.temperature ?? 1,
    text: isObject(body.text) ? body.text : { format: { type: "text" } },
    tool_choice: body.tool_choice ?? "auto",
    tools: body.tools ?? [],
    top_p: body.top_p ?? 1,
    truncation: body.truncation ?? "disabled",
    usage: {
      input_tokens: usage.input,
      input_tokens_details: { cached_tokens: usage.cached },
      output_tokens: usage.output,
      output_tokens_details: { reasoning_tokens: usage.reasoning },
      total_tokens: usage.input + usage.output,
    },
    user: body.user ?? null,
    metadata: body.metadata ?? {},
  };
}
