/**
 * Every error the API answers with, in one place: HTTP status plus the Codeer error_code
 * (seed 001), and the two codes agentbatch adds (409/10009, 429/10029).
 */
export const ErrorCodes = {
  PERMISSION_DENIED: 10001,
  NOT_FOUND: 10003,
  SERVER_ERROR: 10005,
  BAD_REQUEST: 10006,
  CONFLICT: 10009,
  RATE_LIMITED: 10029,
  WORKSPACE_CLIENT_NOT_ALLOWED: 14103,
} as const;

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly errorCode: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export const badRequest = (message: string) => new ApiError(400, ErrorCodes.BAD_REQUEST, message);
export const missingKey = () =>
  new ApiError(
    400,
    ErrorCodes.PERMISSION_DENIED,
    "Missing or invalid API key: send it in the x-api-key header",
  );
export const notWhitelisted = (message = "external_user_id is not on this workspace's whitelist") =>
  new ApiError(403, ErrorCodes.WORKSPACE_CLIENT_NOT_ALLOWED, message);
export const notFound = (what: string) => new ApiError(404, ErrorCodes.NOT_FOUND, `${what} not found`);
export const conflict = (message: string) => new ApiError(409, ErrorCodes.CONFLICT, message);
export const payloadTooLarge = (message: string) => new ApiError(413, ErrorCodes.BAD_REQUEST, message);
export const rateLimited = (retryAfterSeconds: number) =>
  new ApiError(429, ErrorCodes.RATE_LIMITED, "Too many requests", {
    "retry-after": String(retryAfterSeconds),
  });
export const serverError = () => new ApiError(500, ErrorCodes.SERVER_ERROR, "Internal server error");
