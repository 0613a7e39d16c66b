import type { FailedOutcome, ModelRequest, ProviderCapabilities, RequestFeature, Support } from "./types.js";

/** OpenAI's chat completions (and vLLM, Ollama, llama.cpp, the mock): nearly everything as it is. */
export const OPENAI_COMPATIBLE_CAPABILITIES: ProviderCapabilities = {
  kind: "openai-compatible",
  request: {
    temperature: "native",
    topP: "native",
    stop: "native",
    maxTokens: "native",
    maxCompletionTokens: "native",
    images: "native",
    imageDetail: "native",
    tools: "native",
    toolChoice: "native",
    parallelToolCalls: "native",
    // `isError` has no field there: the content is sent prefixed with "Error: ".
    toolMessages: "native",
    "responseFormat.json_object": "native",
    "responseFormat.json_schema": "native",
    seed: "native",
    frequencyPenalty: "native",
    presencePenalty: "native",
    logprobs: "native",
    topLogprobs: "native",
    user: "native",
    metadata: "native",
    reasoningEffort: "native",
    thinking: "refused",
    // OpenAI caches long prompt prefixes on its own; the marker is not sent.
    cacheControl: "translated",
  },
  operations: { stream: "native", embed: "native", respond: "native" },
  maxEmbeddingInputs: 2048,
};

/** Anthropic's Messages API: OpenAI's features mapped onto its own, the rest refused. */
export const ANTHROPIC_CAPABILITIES: ProviderCapabilities = {
  kind: "anthropic",
  request: {
    // Anthropic's range is 0–1: higher values are sent as 1.
    temperature: "translated",
    topP: "native",
    stop: "translated",
    maxTokens: "native",
    maxCompletionTokens: "translated",
    images: "native",
    // Anthropic has no resolution setting for an image.
    imageDetail: "refused",
    tools: "translated",
    toolChoice: "translated",
    parallelToolCalls: "translated",
    toolMessages: "translated",
    "responseFormat.json_object": "translated",
    "responseFormat.json_schema": "translated",
    seed: "refused",
    frequencyPenalty: "refused",
    presencePenalty: "refused",
    logprobs: "refused",
    topLogprobs: "refused",
    user: "translated",
    metadata: "refused",
    reasoningEffort: "refused",
    thinking: "native",
    cacheControl: "native",
  },
  operations: { stream: "native", embed: "refused", respond: "refused" },
  maxEmbeddingInputs: 0,
};

/**
 * The built-in model accepts every field: its answers are deterministic, so sampling fields
 * change nothing; tools, structured output, logprobs and embeddings are simulated.
 */
export const SIMULATED_CAPABILITIES: ProviderCapabilities = {
  kind: "simulated",
  request: {
    temperature: "native",
    topP: "native",
    stop: "native",
    maxTokens: "native",
    maxCompletionTokens: "native",
    images: "native",
    imageDetail: "native",
    tools: "native",
    toolChoice: "native",
    parallelToolCalls: "native",
    toolMessages: "native",
    "responseFormat.json_object": "native",
    "responseFormat.json_schema": "native",
    seed: "native",
    frequencyPenalty: "native",
    presencePenalty: "native",
    logprobs: "native",
    topLogprobs: "native",
    user: "native",
    metadata: "native",
    reasoningEffort: "native",
    thinking: "native",
    cacheControl: "native",
  },
  operations: { stream: "native", embed: "native", respond: "refused" },
  maxEmbeddingInputs: 2048,
};

const BY_KIND: Record<ProviderCapabilities["kind"], ProviderCapabilities> = {
  "openai-compatible": OPENAI_COMPATIBLE_CAPABILITIES,
  anthropic: ANTHROPIC_CAPABILITIES,
  simulated: SIMULATED_CAPABILITIES,
};

/** The capabilities of a provider kind (the config's `type`). */
export function capabilitiesOf(kind: ProviderCapabilities["kind"]): ProviderCapabilities {
  return BY_KIND[kind];
}

const SCALAR_FEATURES = [
  "temperature",
  "topP",
  "maxTokens",
  "maxCompletionTokens",
  "toolChoice",
  "parallelToolCalls",
  "seed",
  "frequencyPenalty",
  "presencePenalty",
  "topLogprobs",
  "user",
  "metadata",
  "reasoningEffort",
] as const satisfies readonly (RequestFeature & keyof ModelRequest)[];

/** The features a request uses (a field set to a value that asks for something). */
export function requestFeatures(request: ModelRequest): RequestFeature[] {
  const used: RequestFeature[] = [];
  for (const key of SCALAR_FEATURES) if (request[key] !== undefined) used.push(key);
  if (request.stop !== undefined && request.stop.length > 0) used.push("stop");
  if (request.tools !== undefined && request.tools.length > 0) used.push("tools");
  if (request.logprobs === true) used.push("logprobs");
  if (request.thinking?.type === "enabled") used.push("thinking");
  const format = request.responseFormat?.type;
  if (format === "json_object" || format === "json_schema") used.push(`responseFormat.${format}`);
  let images = false;
  let imageDetail = false;
  let toolMessages = false;
  let cacheControl = false;
  for (const m of request.messages) {
    if (m.role === "tool" || (m.toolCalls !== undefined && m.toolCalls.length > 0)) toolMessages = true;
    if (typeof m.content === "string") continue;
    for (const part of m.content) {
      if (part.type === "image") {
        images = true;
        if (part.detail !== undefined) imageDetail = true;
      } else if (part.cacheControl !== undefined) cacheControl = true;
    }
  }
  if (images) used.push("images");
  if (imageDetail) used.push("imageDetail");
  if (toolMessages) used.push("toolMessages");
  if (cacheControl) used.push("cacheControl");
  return used;
}

/** The features of `request` that a provider with `capabilities` cannot honour. */
export function refusedFeatures(request: ModelRequest, capabilities: ProviderCapabilities): RequestFeature[] {
  return requestFeatures(request).filter((f) => capabilities.request[f] === "refused");
}

/** How a provider kind treats one feature. */
export function supportOf(capabilities: ProviderCapabilities, feature: RequestFeature): Support {
  return capabilities.request[feature];
}

/**
 * The outcome of a request that reached a provider with features it cannot honour: a 400 that
 * names them, never a call that silently leaves them out.
 */
export function refusalOutcome(
  provider: string,
  capabilities: ProviderCapabilities,
  refused: RequestFeature[],
): FailedOutcome {
  return {
    kind: "failed",
    code: 400,
    message: `provider "${provider}" (${capabilities.kind}) cannot honour: ${refused.join(", ")}`,
  };
}
