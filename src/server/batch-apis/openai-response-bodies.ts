/** The `response.body` of an OpenAI output line, per endpoint, as OpenAI shapes it. */
import { encodeBase64Floats } from "../../providers/openai-embeddings.js";
import type { BatchItem, ResponseDetail } from "../../store/types.js";

/** Unix seconds, OpenAI's timestamps. */
const sec = (ms: number | null | undefined): number | null => (ms == null ? null : Math.floor(ms / 1000));

function tokensOf(it: BatchItem) {
  const u = it.responseUsage;
  return {
    prompt: u?.total_prompt_tokens ?? 0,
    completion: u?.total_completion_tokens ?? 0,
    model: u?.tool_calls[0]?.model ?? it.request?.requestedModel ?? "",
  };
}

function chatUsage(prompt: number, completion: number, detail: ResponseDetail | null | undefined) {
  const usage: Record<string, unknown> = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
  };
  const u = detail?.usage;
  if (u?.cachedPromptTokens) usage.prompt_tokens_details = { cached_tokens: u.cachedPromptTokens };
  if (u?.reasoningTokens) usage.completion_tokens_details = { reasoning_tokens: u.reasoningTokens };
  return usage;
}

/** A chat.completion: the text, or the tool calls (content null), logprobs and finish reason. */
export function chatCompletionBody(it: BatchItem) {
  const { prompt, completion, model } = tokensOf(it);
  const detail = it.responseDetail;
  const toolCalls = detail?.toolCalls;
  const text = it.responseContent ?? "";
  const message: Record<string, unknown> = {
    role: "assistant",
    content: toolCalls && text === "" ? null : text,
    refusal: null,
  };
  if (toolCalls) {
    message.tool_calls = toolCalls.map((c) => ({
      id: c.id,
      type: "function",
      function: { name: c.name, arguments: c.arguments },
    }));
  }
  return {
    id: `chatcmpl-${it.batchId.replace(/^batch_/, "")}-${it.seq}`,
    object: "chat.completion",
    created: sec(it.processedAt),
    model,
    choices: [
      {
        index: 0,
        message,
        logprobs: detail?.logprobs ?? null,
        finish_reason: it.finishReason ?? (toolCalls ? "tool_calls" : "stop"),
      },
    ],
    usage: chatUsage(prompt, completion, detail),
  };
}

/** An embeddings list: one vector per input, base64 when the line asked for it. */
export function embeddingsBody(it: BatchItem) {
  const { prompt, model } = tokensOf(it);
  const base64 = it.request?.operation === "embeddings" && it.request.encodingFormat === "base64";
  const vectors = it.responseDetail?.embeddings ?? [];
  return {
    object: "list",
    data: vectors.map((v, index) => ({
      object: "embedding",
      index,
      embedding: base64 ? encodeBase64Floats(v) : v,
    })),
    model,
    usage: { prompt_tokens: prompt, total_tokens: prompt },
  };
}

/** The Response object: the upstream's as it answered, or the one built from a chat completion. */
export function responsesBody(it: BatchItem) {
  const response = it.responseDetail?.response;
  if (response) return response;
  const { prompt, completion, model } = tokensOf(it);
  return {
    id: `resp_${it.batchId.replace(/^batch_/, "")}${it.seq}`,
    object: "response",
    created_at: sec(it.processedAt),
    status: "completed",
    model,
    output: [
      {
        type: "message",
        id: `msg_${it.id}`,
        status: "completed",
        role: "assistant",
        content: [{ type: "output_text", text: it.responseContent ?? "", annotations: [] }],
      },
    ],
    usage: {
      input_tokens: prompt,
      output_tokens: completion,
      total_tokens: prompt + completion,
    },
  };
}

/** The response body of a succeeded item, for its endpoint. */
export function successBody(it: BatchItem) {
  if (it.request?.operation === "embeddings") return embeddingsBody(it);
  if (it.request?.operation === "responses") return responsesBody(it);
  return chatCompletionBody(it);
}
