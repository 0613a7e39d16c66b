/**
 * Every error a request can end with, classified once into one description that says nothing
 * about any API's wire shape: its HTTP status, what kind of failure it is, a message for a person,
 * the field it is about and the headers to send. formats.ts turns a description into the Codeer,
 * OpenAI or Anthropic error body.
 */
import type { ErrorObject } from "ajv";
import type { FastifyError } from "fastify";
import { FileTooLargeError } from "../../files/storage.js";
import { AnthropicApiError } from "../batch-apis/anthropic-errors.js";
import { ParamsError } from "../batch-apis/anthropic-params.js";
import { OpenAIApiError } from "../batch-apis/openai-errors.js";
import { ApiError } from "../errors.js";
import { MAX_PATH_PARAM_CHARS } from "../request-parsing.js";
import { type FieldPath, fieldPath, pointerSegments } from "./field-path.js";

export type ErrorKind =
  | "invalid_request"
  | "authentication"
  | "permission"
  | "not_found"
  | "conflict"
  | "too_large"
  | "unsupported_media_type"
  | "rate_limited"
  | "server";

/** A request that failed its route's schema: the shapes word these their own way. */
export interface SchemaViolation {
  /** The JSON Schema keyword that failed: `required` (a field is missing), `enum`, `type`... */
  keyword: string;
  /** The validator's wording of the failure (`must be string`). */
  detail: string;
  /** The part of the request: body, querystring, params or headers. */
  part: string;
}

/** Codes an error was thrown with in one API shape's own terms; that shape's answer uses them. */
export interface ShapeCodes {
  codeer?: number;
  openAIType?: string;
  openAICode?: string | null;
  anthropicType?: string;
}

export interface ErrorDescription {
  status: number;
  kind: ErrorKind;
  /** What went wrong, for a person; it names the field when there is one. */
  message: string;
  /** The field the error is about, when there is one. */
  field: FieldPath | null;
  headers: Record<string, string>;
  violation: SchemaViolation | null;
  codes: ShapeCodes;
  /** An error nobody anticipated: logged with its stack, answered as a bare 500. */
  unexpected: boolean;
}

/** What the classifier reads of the request the error ended. */
export interface FailedRequest {
  body?: unknown;
  headers?: Record<string, string | string[] | undefined>;
  routeOptions?: { bodyLimit?: number };
}

const KIND_OF_STATUS: Record<number, ErrorKind> = {
  401: "authentication",
  403: "permission",
  404: "not_found",
  409: "conflict",
  413: "too_large",
  415: "unsupported_media_type",
  429: "rate_limited",
};

function kindOfStatus(status: number): ErrorKind {
  if (status >= 500) return "server";
  return KIND_OF_STATUS[status] ?? "invalid_request";
}

/** A description with the defaults filled in. */
function describeError(
  status: number,
  message: string,
  more: Partial<Omit<ErrorDescription, "status" | "message">> = {},
): ErrorDescription {
  return {
    status,
    message,
    kind: more.kind ?? kindOfStatus(status),
    field: more.field ?? null,
    headers: more.headers ?? {},
    violation: more.violation ?? null,
    codes: more.codes ?? {},
    unexpected: more.unexpected ?? false,
  };
}

/** The answer to a request no route matches. */
export function routeNotFound(method: string, url: string): ErrorDescription {
  return describeError(404, `Route ${method} ${url.split("?")[0]} not found`);
}

export function classifyError(err: unknown, request: FailedRequest): ErrorDescription {
  // Anything may be thrown; what is not an object says nothing about the client.
  const e = (typeof err === "object" && err !== null ? err : {}) as FastifyError;
  return (
    thrownByAnApi(err) ??
    schemaViolation(e, request) ??
    frameworkError(e, request) ??
    clientError(e) ??
    describeError(500, "Internal server error", { unexpected: true })
  );
}

/** Errors the routes throw on purpose, in the Codeer shape or one of the batch API shapes. */
function thrownByAnApi(err: unknown): ErrorDescription | null {
  if (err instanceof ApiError) {
    return describeError(err.statusCode, err.message, {
      headers: err.headers,
      codes: { codeer: err.errorCode },
    });
  }
  if (err instanceof OpenAIApiError) {
    return describeError(err.statusCode, err.message, {
      field: err.param === null ? null : [err.param],
      codes: { openAIType: err.type, openAICode: err.code },
    });
  }
  if (err instanceof AnthropicApiError) {
    return describeError(err.statusCode, err.message, { codes: { anthropicType: err.type } });
  }
  if (err instanceof ParamsError) return describeError(400, err.message);
  return null;
}

/** A request that does not match its route's schema (ajv's first error). */
function schemaViolation(err: FastifyError, request: FailedRequest): ErrorDescription | null {
  if (!err.validation) return null;
  const part = err.validationContext ?? "body";
  if (part === "body" && request.body === undefined) return emptyBody();
  const e = err.validation[0] as ErrorObject;
  const missing =
    e.keyword === "required" ? (e.params as { missingProperty: string }).missingProperty : undefined;
  const unknown =
    e.keyword === "additionalProperties"
      ? (e.params as { additionalProperty: string }).additionalProperty
      : undefined;
  const field = pointerSegments(e.instancePath, missing ?? unknown);
  const path = fieldPath(field);
  const detail = e.message ?? "is invalid";
  let message: string;
  if (missing) message = `${path} is required`;
  else if (unknown !== undefined) {
    message = `${path} is not a known ${part === "querystring" ? "query parameter" : "field"}`;
  } else if (e.keyword === "enum") {
    message = `${path || part}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(", ")}`;
  } else if (!path) message = `${part === "body" ? "request body" : part} ${detail}`;
  else message = `${path}: ${detail}`;
  return describeError(400, message, { field, violation: { keyword: e.keyword, detail, part } });
}

/** A body of a type the API does not read: the message names the type sent. */
function unsupportedMediaType(request: FailedRequest): ErrorDescription {
  const type = String(request.headers?.["content-type"] ?? "")
    .split(";")[0]
    .trim();
  const sent = type ? `Content-Type ${type} is not supported` : "Unsupported Content-Type";
  return describeError(415, `${sent}; send a JSON body as application/json (uploads: multipart/form-data)`);
}

const emptyBody = () => describeError(400, "The request body is empty; send a JSON object");

/** Fastify's own errors: the body, the upload and the URL it could not take. */
function frameworkError(err: FastifyError, request: FailedRequest): ErrorDescription | null {
  switch (err.code) {
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return describeError(400, `Malformed JSON body: ${err.message}`);
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return emptyBody();
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return describeError(
        413,
        `The request body is larger than the limit of ${request.routeOptions?.bodyLimit ?? "the server"} bytes`,
      );
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return unsupportedMediaType(request);
    case "FST_ERR_BAD_URL":
      return describeError(400, `Malformed URL: ${err.message}`);
    case "FST_ERR_MAX_PARAM_LENGTH":
      return describeError(
        414,
        `A path segment of the URL is longer than ${MAX_PATH_PARAM_CHARS} characters`,
      );
  }
  if (err instanceof FileTooLargeError || err.code === "FST_REQ_FILE_TOO_LARGE") {
    return describeError(413, err.message, { field: ["file"], codes: { openAICode: "file_too_large" } });
  }
  if (isMalformedUpload(err)) {
    return describeError(400, `Malformed multipart body: ${err.message}`, { field: ["file"] });
  }
  return null;
}

/** Any other error that says it is the client's fault (a 4xx status). */
function clientError(err: FastifyError): ErrorDescription | null {
  const status = err.statusCode;
  if (!status || status < 400 || status >= 500) return null;
  return describeError(status, err.message, { kind: "invalid_request" });
}

/**
 * The multipart parser (busboy, under @fastify/multipart) throws plain Errors for a body it
 * cannot read (no boundary, truncated form); they are the client's fault, not a 500.
 */
function isMalformedUpload(err: Error): boolean {
  return /^(Multipart: |Unexpected end of (form|multipart data)|Malformed part header|Malformed urlencoded form)/.test(
    err.message,
  );
}
