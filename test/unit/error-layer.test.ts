/** The error layer: one classification of any thrown error, written out in each API's shape. */
import { describe, expect, it } from "vitest";
import { FileTooLargeError } from "../../src/files/storage.js";
import { AnthropicApiError } from "../../src/server/batch-apis/anthropic-errors.js";
import { ParamsError } from "../../src/server/batch-apis/anthropic-params.js";
import { OpenAIApiError } from "../../src/server/batch-apis/openai-errors.js";
import { classifyError, routeNotFound } from "../../src/server/error-layer/classify.js";
import { fieldPath, pointerSegments } from "../../src/server/error-layer/field-path.js";
import {
  anthropicError,
  codeerError,
  openAIError,
  shapeOfUrl,
} from "../../src/server/error-layer/formats.js";
import { conflict, notWhitelisted, rateLimited } from "../../src/server/errors.js";

/** A Fastify error as the framework throws it. */
function fastifyError(code: string, message: string, statusCode?: number) {
  return Object.assign(new Error(message), { code, statusCode });
}

/** A schema failure as Fastify reports it (ajv's first error). */
function validationError(error: Record<string, unknown>, part = "body") {
  return Object.assign(new Error("validation"), {
    statusCode: 400,
    code: "FST_ERR_VALIDATION",
    validation: [error],
    validationContext: part,
  });
}

const withBody = { body: {} };

/** The error in all three shapes. */
function shapes(err: unknown, request: object = withBody) {
  const d = classifyError(err, request);
  return { d, codeer: codeerError(d), openai: openAIError(d), anthropic: anthropicError(d) };
}

describe("fieldPath", () => {
  it("writes indexes in brackets for Codeer and OpenAI, dotted for Anthropic", () => {
    const path = pointerSegments("/requests/3", "custom_id");
    expect(path).toEqual(["requests", "3", "custom_id"]);
    expect(fieldPath(path)).toBe("requests[3].custom_id");
    expect(fieldPath(path, "dots")).toBe("requests.3.custom_id");
    expect(fieldPath(["0", "x"])).toBe("[0].x");
    expect(fieldPath([])).toBe("");
  });
});

describe("classifyError", () => {
  it("keeps an ApiError's status, error_code and headers", () => {
    const { d, codeer } = shapes(rateLimited(3));
    expect(d).toMatchObject({ status: 429, kind: "rate_limited", headers: { "retry-after": "3" } });
    expect(codeer).toEqual({ data: null, message: "Too many requests", error_code: 10029 });
    expect(shapes(notWhitelisted()).codeer.error_code).toBe(14103);
    expect(shapes(conflict("no")).anthropic.error.type).toBe("invalid_request_error");
  });

  it("keeps the codes an OpenAI or Anthropic error was thrown with", () => {
    const openai = shapes(
      new OpenAIApiError(
        401,
        "Incorrect API key provided.",
        "invalid_request_error",
        null,
        "invalid_api_key",
      ),
    );
    expect(openai.d.status).toBe(401);
    expect(openai.openai).toEqual({
      error: {
        message: "Incorrect API key provided.",
        type: "invalid_request_error",
        param: null,
        code: "invalid_api_key",
      },
    });
    const param = shapes(new OpenAIApiError(400, "bad", "invalid_request_error", "input_file_id"));
    expect(param.openai.error.param).toBe("input_file_id");
    const anthropic = shapes(new AnthropicApiError(404, "not_found_error", "No message batch with id x"));
    expect(anthropic.anthropic).toEqual({
      type: "error",
      error: { type: "not_found_error", message: "No message batch with id x" },
    });
    expect(anthropic.codeer.error_code).toBe(10003);
    const params = shapes(new ParamsError("requests.0.params.model: Field required"));
    expect(params.d).toMatchObject({ status: 400, kind: "invalid_request" });
    expect(params.anthropic.error).toEqual({
      type: "invalid_request_error",
      message: "requests.0.params.model: Field required",
    });
  });

  it("words a missing field as each API does, naming its path", () => {
    const err = validationError({
      keyword: "required",
      instancePath: "/requests/0",
      params: { missingProperty: "custom_id" },
      message: "must have required property 'custom_id'",
    });
    const { d, codeer, openai, anthropic } = shapes(err);
    expect(d).toMatchObject({ status: 400, field: ["requests", "0", "custom_id"] });
    expect(codeer).toEqual({ data: null, message: "requests[0].custom_id is required", error_code: 10006 });
    expect(openai.error).toEqual({
      message: "Missing required parameter: 'requests[0].custom_id'.",
      type: "invalid_request_error",
      param: "requests[0].custom_id",
      code: null,
    });
    expect(anthropic.error.message).toBe("requests.0.custom_id: Field required");
  });

  it("words other schema failures with the validator's detail", () => {
    const enumErr = validationError(
      {
        keyword: "enum",
        instancePath: "/status",
        params: { allowedValues: ["a", "b"] },
        message: "must be equal to one of the allowed values",
      },
      "querystring",
    );
    expect(shapes(enumErr).codeer.message).toBe("status: must be one of a, b");
    const typeErr = validationError({
      keyword: "type",
      instancePath: "/limit",
      params: {},
      message: "must be integer",
    });
    const typed = shapes(typeErr);
    expect(typed.codeer.message).toBe("limit: must be integer");
    expect(typed.openai.error.message).toBe("Invalid 'limit': must be integer.");
    expect(typed.anthropic.error.message).toBe("limit: must be integer");
    const root = validationError({
      keyword: "type",
      instancePath: "",
      params: {},
      message: "must be object",
    });
    expect(shapes(root).codeer.message).toBe("request body must be object");
    expect(shapes(root).anthropic.error.message).toBe("body: must be object");
  });

  it("names a missing body as such, whatever the shape", () => {
    const root = validationError({
      keyword: "type",
      instancePath: "",
      params: {},
      message: "must be object",
    });
    const { d, openai } = shapes(root, { body: undefined });
    expect(d).toMatchObject({
      status: 400,
      message: "The request body is empty; send a JSON object",
      violation: null,
    });
    expect(openai.error.message).toBe("The request body is empty; send a JSON object");
  });

  it("classifies Fastify's body, media type and URL errors", () => {
    expect(
      shapes(fastifyError("FST_ERR_CTP_INVALID_JSON_BODY", "Body is not valid JSON", 400)).codeer.message,
    ).toBe("Malformed JSON body: Body is not valid JSON");
    const tooLarge = shapes(fastifyError("FST_ERR_CTP_BODY_TOO_LARGE", "too large", 413), {
      body: undefined,
      routeOptions: { bodyLimit: 2048 },
    });
    expect(tooLarge.d).toMatchObject({ status: 413, kind: "too_large" });
    expect(tooLarge.codeer).toEqual({
      data: null,
      message: "The request body is larger than the limit of 2048 bytes",
      error_code: 10006,
    });
    expect(tooLarge.anthropic.error.type).toBe("request_too_large");
    const media = shapes(fastifyError("FST_ERR_CTP_INVALID_MEDIA_TYPE", "unsupported", 415), {
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
    expect(media.d).toMatchObject({
      status: 415,
      message:
        "Content-Type text/plain is not supported; send a JSON body as application/json (uploads: multipart/form-data)",
    });
    const badUrl = shapes(
      fastifyError("FST_ERR_BAD_URL", "'/api/v1/batches/%zz' is not a valid url component", 400),
    );
    expect(badUrl.codeer).toEqual({
      data: null,
      message: "Malformed URL: '/api/v1/batches/%zz' is not a valid url component",
      error_code: 10006,
    });
    const longParam = shapes(fastifyError("FST_ERR_MAX_PARAM_LENGTH", "too long", 414));
    expect(longParam.d).toMatchObject({ status: 414, kind: "invalid_request" });
    expect(longParam.openai.error.type).toBe("invalid_request_error");
  });

  it("classifies upload errors: a file over the limit, a multipart body that cannot be read", () => {
    const big = shapes(new FileTooLargeError(10));
    expect(big.d).toMatchObject({ status: 413, kind: "too_large" });
    expect(big.openai.error).toMatchObject({ param: "file", code: "file_too_large" });
    expect(shapes(fastifyError("FST_REQ_FILE_TOO_LARGE", "request file too large", 413)).d.status).toBe(413);
    const malformed = shapes(new Error("Multipart: Boundary not found"));
    expect(malformed.d).toMatchObject({
      status: 400,
      message: "Malformed multipart body: Multipart: Boundary not found",
    });
    expect(malformed.openai.error.param).toBe("file");
  });

  it("passes any other 4xx through as a bad request and hides everything else behind a 500", () => {
    const limit = shapes(fastifyError("FST_FILES_LIMIT", "reach files limit", 413));
    expect(limit.d).toMatchObject({ status: 413, kind: "invalid_request", unexpected: false });
    expect(limit.codeer.error_code).toBe(10006);
    expect(shapes(null).d).toMatchObject({ status: 500, unexpected: true });
    expect(shapes("a string").d).toMatchObject({ status: 500, unexpected: true });
    const crash = shapes(new TypeError("x is undefined"));
    expect(crash.d).toMatchObject({ status: 500, kind: "server", unexpected: true });
    expect(crash.codeer).toEqual({ data: null, message: "Internal server error", error_code: 10005 });
    expect(crash.openai.error).toMatchObject({ type: "server_error", message: "Internal server error" });
    expect(crash.anthropic.error).toEqual({ type: "api_error", message: "Internal server error" });
  });

  it("describes an unknown route without its query string", () => {
    const d = routeNotFound("GET", "/v1/nope?x=1");
    expect(d).toMatchObject({ status: 404, kind: "not_found", message: "Route GET /v1/nope not found" });
    expect(anthropicError(d).error.type).toBe("not_found_error");
    expect(codeerError(d).error_code).toBe(10003);
  });
});

describe("shapeOfUrl", () => {
  it("gives /v1/messages/batches to Anthropic, the rest of /v1 to OpenAI, everything else to Codeer", () => {
    expect(shapeOfUrl("/v1/messages/batches")).toBe("anthropic");
    expect(shapeOfUrl("/v1/messages/batches/msgbatch_1/results?x=1")).toBe("anthropic");
    expect(shapeOfUrl("/v1/batches/%zz")).toBe("openai");
    expect(shapeOfUrl("/v1/messages/batchesque")).toBe("openai");
    expect(shapeOfUrl("/api/v1/batches")).toBe("codeer");
    expect(shapeOfUrl("/v10/x")).toBe("codeer");
  });
});
