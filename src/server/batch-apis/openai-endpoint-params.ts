import type { EmbeddingsItemRequest, ResponsesItemRequest } from "../../store/types.js";
import { metadataParam } from "./openai-chat-params.js";
import { intIn, invalid, isObject, isSet, type Json, LineError } from "./openai-line-error.js";

/** OpenAI's own limit of inputs in one embeddings request. */
const MAX_EMBEDDING_INPUTS = 2048;
const EMBEDDING_FIELDS = new Set(["model", "input", "dimensions", "encoding_format", "user"]);

/** An `/v1/embeddings` body `{input, model, dimensions?, encoding_format?, user?}` whose model is routed. */
export function embeddingsParams(body: Json, model: string, requestedModel: string): EmbeddingsItemRequest {
  for (const key of Object.keys(body)) {
    if (!EMBEDDING_FIELDS.has(key)) {
      throw new LineError(
        "invalid_value",
        `Unrecognized request argument supplied: body.${key}`,
        `body.${key}`,
      );
    }
  }
  const input = typeof body.input === "string" ? [body.input] : body.input;
  if (!Array.isArray(input) || input.length === 0 || input.some((s) => typeof s !== "string" || s === "")) {
    throw new LineError(
      "invalid_value",
      "body.input must be a non-empty string or a non-empty array of non-empty strings (token arrays are not supported)",
      "body.input",
    );
  }
  if (input.length > MAX_EMBEDDING_INPUTS) {
    throw invalid("body.input", `holds at most ${MAX_EMBEDDING_INPUTS} inputs`);
  }
  const request: EmbeddingsItemRequest = {
    operation: "embeddings",
    model,
    requestedModel,
    input: input as string[],
  };
  if (isSet(body.dimensions)) request.dimensions = intIn(body.dimensions, 1, 3072, "body.dimensions");
  if (isSet(body.encoding_format)) {
    if (body.encoding_format !== "float" && body.encoding_format !== "base64") {
      throw invalid("body.encoding_format", "must be float or base64");
    }
    request.encodingFormat = body.encoding_format;
  }
  if (isSet(body.user)) {
    if (typeof body.user !== "string") throw invalid("body.user", "must be a string");
    request.user = body.user;
  }
  return request;
}

/**
 * A `/v1/responses` body, kept as written (it is passed through, or mapped onto a chat
 * completion when the item runs); what cannot work in a batch at all fails the line here.
 */
export function responsesParams(body: Json, model: string, requestedModel: string): ResponsesItemRequest {
  if (!isSet(body.input) && !isSet(body.instructions)) {
    throw new LineError("missing_required_parameter", "body.input is required", "body.input");
  }
  if (body.stream === true) throw invalid("body.stream", "streaming is not supported in a batch");
  if (body.background === true)
    throw invalid("body.background", "background responses are not supported in a batch");
  for (const stateful of ["previous_response_id", "conversation"]) {
    if (isSet(body[stateful])) {
      throw invalid(`body.${stateful}`, "agentbatch keeps no responses: send the whole input instead");
    }
  }
  if (isSet(body.text) && !isObject(body.text)) throw invalid("body.text", "must be an object");
  for (const field of ["user", "safety_identifier"]) {
    if (isSet(body[field]) && typeof body[field] !== "string")
      throw invalid(`body.${field}`, "must be a string");
  }
  if (isSet(body.metadata)) metadataParam(body.metadata);
  const { stream: _stream, ...rest } = body;
  return { operation: "responses", model, requestedModel, body: rest };
}
