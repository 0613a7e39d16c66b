import { truncate } from "./http-upstream.js";
import { retryable } from "./outcomes.js";
import type { EmbeddingOutcome, EmbeddingRequest, RateLimitHint } from "./types.js";

/** `POST /embeddings` body: every input in one call. */
export function embeddingsRequestBody(request: EmbeddingRequest): Record<string, unknown> {
  const body: Record<string, unknown> = { model: request.model, input: request.input };
  if (request.dimensions !== undefined) body.dimensions = request.dimensions;
  if (request.encodingFormat !== undefined) body.encoding_format = request.encodingFormat;
  if (request.user !== undefined) body.user = request.user;
  return body;
}

interface EmbeddingsPayload {
  model?: string;
  data?: Array<{ index?: number; embedding?: number[] | string }>;
  usage?: { prompt_tokens?: number } | null;
}

/** OpenAI's embeddings list: vectors put back in input order, base64 ones decoded to numbers. */
export function readEmbeddings(
  raw: string,
  request: EmbeddingRequest,
  rateLimit: RateLimitHint | undefined,
): EmbeddingOutcome {
  let payload: EmbeddingsPayload;
  try {
    payload = JSON.parse(raw) as EmbeddingsPayload;
  } catch {
    return retryable(502, `upstream sent invalid JSON: ${truncate(raw)}`, false, { rateLimit });
  }
  const data = payload.data;
  if (!Array.isArray(data) || data.length !== request.input.length) {
    return retryable(
      502,
      `upstream sent ${Array.isArray(data) ? data.length : "no"} embeddings for ${request.input.length} inputs`,
      false,
      { rateLimit },
    );
  }
  const vectors: number[][] = new Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const { index = i, embedding } = data[i];
    const vector = typeof embedding === "string" ? decodeBase64Floats(embedding) : embedding;
    if (!Array.isArray(vector) || index < 0 || index >= vectors.length) {
      return retryable(502, `upstream sent an invalid embedding at ${i}`, false, { rateLimit });
    }
    vectors[index] = vector;
  }
  const outcome: EmbeddingOutcome = {
    kind: "success",
    vectors,
    usage: { promptTokens: payload.usage?.prompt_tokens ?? 0 },
    model: payload.model ?? request.model,
  };
  if (rateLimit) outcome.rateLimit = rateLimit;
  return outcome;
}

/** OpenAI's base64 encoding: little-endian float32s. */
export function decodeBase64Floats(text: string): number[] {
  const bytes = Buffer.from(text, "base64");
  const floats: number[] = new Array(bytes.length >> 2);
  for (let i = 0; i < floats.length; i++) floats[i] = bytes.readFloatLE(i * 4);
  return floats;
}

/** The inverse of `decodeBase64Floats`, for shapes that answer `encoding_format: base64`. */
export function encodeBase64Floats(vector: number[]): string {
  const bytes = Buffer.alloc(vector.length * 4);
  for (let i = 0; i < vector.length; i++) bytes.writeFloatLE(vector[i], i * 4);
  return bytes.toString("base64");
}
