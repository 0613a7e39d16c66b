/** An error in Anthropic's terms: `{"type": "error", "error": {"type", "message"}}` on the wire. */
export class AnthropicApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
    this.name = "AnthropicApiError";
  }
}

export const invalidRequest = (message: string) =>
  new AnthropicApiError(400, "invalid_request_error", message);

export const batchNotFound = (id: string) =>
  new AnthropicApiError(404, "not_found_error", `No message batch with id ${id}`);

export const invalidApiKey = () => new AnthropicApiError(401, "authentication_error", "invalid x-api-key");
