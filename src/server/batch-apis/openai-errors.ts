/** An error in OpenAI's terms: `{"error": {"message", "type", "param", "code"}}` on the wire. */
export class OpenAIApiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly type = "invalid_request_error",
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = "OpenAIApiError";
  }
}

export const invalidRequest = (message: string, param: string | null = null, code: string | null = null) =>
  new OpenAIApiError(400, message, "invalid_request_error", param, code);

export const noSuch = (what: string, id: string, param = "id") =>
  new OpenAIApiError(404, `No such ${what}: ${id}`, "invalid_request_error", param);

export const missingApiKey = () =>
  new OpenAIApiError(
    401,
    "You didn't provide an API key. Send it as Authorization: Bearer <key>.",
    "invalid_request_error",
    null,
    "missing_api_key",
  );

export const incorrectApiKey = () =>
  new OpenAIApiError(401, "Incorrect API key provided.", "invalid_request_error", null, "invalid_api_key");
