import type { FastifyInstance } from "fastify";
import { encodeBase64Floats } from "../providers/openai-embeddings.js";
import {
  embeddingTokens,
  embedText,
  MAX_SIMULATED_DIMENSIONS,
  simulatedDimensions,
} from "../providers/simulated-embeddings.js";
import { openAIError, sendRateLimited } from "./openai-chat.js";
import { answerDelayMs, delay, injectsFault, type MockRouteDeps } from "./route-support.js";
import { isObject, type Json, WireError } from "./wire-error.js";

const MAX_INPUTS = 2048;

interface EmbeddingsInput {
  model: string;
  texts: string[];
  dimensions?: number;
  base64: boolean;
}

/**
 * OpenAI's embeddings on the mock (`POST /v1/embeddings`): the simulated model's deterministic
 * unit vectors (`providers/simulated-embeddings.ts`), as floats or base64 (the SDK asks for
 * base64 by default), with usage, under the same limits, faults and log as chat.
 */
export function registerEmbeddings(app: FastifyInstance, deps: MockRouteDeps): void {
  app.post("/v1/embeddings", async (request, reply) => {
    const body = (isObject(request.body) ? request.body : {}) as Json;
    deps.capture?.("/v1/embeddings", body);
    const model = typeof body.model === "string" ? body.model : "";
    let input: EmbeddingsInput;
    try {
      input = parseEmbeddingsBody(body);
    } catch (err) {
      if (!(err instanceof WireError)) throw err;
      deps.log.record(400, model, "");
      return reply.code(400).send(openAIError(err.message, "invalid_request_error", err.param));
    }
    const tokens = embeddingTokens(input.texts);
    const logged = input.texts[0] ?? "";
    const refused = deps.limits.admit(tokens);
    if (refused) {
      deps.log.record(429, model, logged);
      return sendRateLimited(reply, deps, model, refused);
    }
    const wait = answerDelayMs(deps);
    if (wait > 0) await delay(wait);
    if (injectsFault(deps)) {
      deps.log.record(500, model, logged);
      return reply.code(500).send({ error: { message: "injected fault", type: "server_error" } });
    }
    deps.log.record(200, model, logged);
    const length = simulatedDimensions(model, input.dimensions);
    return reply.headers(deps.limits.openAIHeaders()).send({
      object: "list",
      data: input.texts.map((text, index) => {
        const vector = embedText(text, length);
        return { object: "embedding", index, embedding: input.base64 ? encodeBase64Floats(vector) : vector };
      }),
      model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    });
  });
}

function parseEmbeddingsBody(body: Json): EmbeddingsInput {
  if (typeof body.model !== "string" || body.model === "") {
    throw new WireError("you must provide a model parameter", "model");
  }
  const texts = inputTexts(body.input);
  if (texts.length === 0 || texts.length > MAX_INPUTS) {
    throw new WireError(`'input' must hold 1 to ${MAX_INPUTS} inputs`, "input");
  }
  const input: EmbeddingsInput = { model: body.model, texts, base64: body.encoding_format === "base64" };
  if (
    body.encoding_format !== undefined &&
    body.encoding_format !== "float" &&
    body.encoding_format !== "base64"
  ) {
    throw new WireError("'encoding_format' must be float or base64", "encoding_format");
  }
  if (body.dimensions !== undefined) {
    const d = body.dimensions;
    if (!Number.isInteger(d) || (d as number) < 1 || (d as number) > MAX_SIMULATED_DIMENSIONS) {
      throw new WireError(
        `'dimensions' must be an integer from 1 to ${MAX_SIMULATED_DIMENSIONS}`,
        "dimensions",
      );
    }
    input.dimensions = d as number;
  }
  return input;
}

/** A string, strings, token ids or lists of token ids (ids embed as their decimal text). */
function inputTexts(raw: unknown): string[] {
  if (typeof raw === "string") raw = [raw];
  if (!Array.isArray(raw) || raw.length === 0) throw new WireError("'input' is required", "input");
  if (raw.every((x) => typeof x === "number")) return [raw.join(" ")];
  return raw.map((item, i) => {
    if (typeof item === "string" && item !== "") return item;
    if (Array.isArray(item) && item.length > 0 && item.every((x) => Number.isInteger(x)))
      return item.join(" ");
    throw new WireError(`'input[${i}]' must be a non-empty string or token list`, "input");
  });
}
