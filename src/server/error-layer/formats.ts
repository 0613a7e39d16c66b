/**
 * An error description (classify.ts) as each API shape writes errors on the wire: the Codeer
 * envelope `{data: null, message, error_code}`, OpenAI's `{"error": {message, type, param, code}}`
 * and Anthropic's `{"type": "error", "error": {type, message}}`.
 */
import { ErrorCodes } from "../errors.js";
import type { ErrorDescription, ErrorKind } from "./classify.js";
import { fieldPath } from "./field-path.js";

export type ApiShape = "codeer" | "openai" | "anthropic";

/**
 * The API a URL belongs to, for errors raised before a route is known: `/v1/messages/batches...`
 * is Anthropic's, any other `/v1/...` OpenAI's, everything else the Codeer API's.
 */
export function shapeOfUrl(url: string): ApiShape {
  const path = url.split("?")[0];
  if (path === "/v1/messages/batches" || path.startsWith("/v1/messages/batches/")) return "anthropic";
  if (path === "/v1" || path.startsWith("/v1/")) return "openai";
  return "codeer";
}

const CODEER_CODES: Record<ErrorKind, number> = {
  invalid_request: ErrorCodes.BAD_REQUEST,
  authentication: ErrorCodes.PERMISSION_DENIED,
  permission: ErrorCodes.PERMISSION_DENIED,
  not_found: ErrorCodes.NOT_FOUND,
  conflict: ErrorCodes.CONFLICT,
  too_large: ErrorCodes.BAD_REQUEST,
  unsupported_media_type: ErrorCodes.BAD_REQUEST,
  rate_limited: ErrorCodes.RATE_LIMITED,
  server: ErrorCodes.SERVER_ERROR,
};

export function codeerError(d: ErrorDescription) {
  return { data: null, message: d.message, error_code: d.codes.codeer ?? CODEER_CODES[d.kind] };
}

export function openAIError(d: ErrorDescription) {
  const param = d.field ? fieldPath(d.field) || null : null;
  let message = d.message;
  if (d.violation) {
    if (d.violation.keyword === "required") message = `Missing required parameter: '${param}'.`;
    else if (d.violation.keyword === "additionalProperties") {
      message = `Unrecognized request argument supplied: ${param}`;
    } else message = `Invalid '${param ?? ""}': ${d.violation.detail}.`;
  }
  const type = d.codes.openAIType ?? (d.kind === "server" ? "server_error" : "invalid_request_error");
  return { error: { message, type, param, code: d.codes.openAICode ?? null } };
}

const ANTHROPIC_TYPES: Record<ErrorKind, string> = {
  invalid_request: "invalid_request_error",
  authentication: "authentication_error",
  permission: "permission_error",
  not_found: "not_found_error",
  conflict: "invalid_request_error",
  too_large: "request_too_large",
  unsupported_media_type: "invalid_request_error",
  rate_limited: "rate_limit_error",
  server: "api_error",
};

export function anthropicError(d: ErrorDescription) {
  let message = d.message;
  if (d.violation) {
    const path = fieldPath(d.field ?? [], "dots") || "body";
    if (d.violation.keyword === "required") message = `${path}: Field required`;
    else if (d.violation.keyword === "additionalProperties")
      message = `${path}: Extra inputs are not permitted`;
    else message = `${path}: ${d.violation.detail}`;
  }
  return { type: "error", error: { type: d.codes.anthropicType ?? ANTHROPIC_TYPES[d.kind], message } };
}

export const ERROR_FORMATS: Record<ApiShape, (d: ErrorDescription) => unknown> = {
  codeer: codeerError,
  openai: openAIError,
  anthropic: anthropicError,
};
