/**
 * An error answered by the API (`status` is the HTTP status, `errorCode` the envelope's
 * `error_code`), or, as AgentbatchConnectionError, a request that got no answer at all.
 */
export class AgentbatchError extends Error {
  constructor(
    message: string,
    /** HTTP status; 0 when the server could not be reached. */
    readonly status: number,
    /** The envelope's `error_code` (10003 not found, 10006 bad request, 10009 conflict...), or null. */
    readonly errorCode: number | null,
    /** The parsed response body (or its text when it was not JSON). */
    readonly body: unknown = null,
    readonly headers: Headers | null = null,
  ) {
    super(message);
    this.name = "AgentbatchError";
  }

  /**
   * Whether an earlier attempt of this request got a 5xx or no answer before this answer came:
   * that attempt may have taken effect, so a 409 here can be the echo of its success.
   */
  afterUncertainAttempt = false;

  /** Whether the same request may succeed later (429, 5xx, no answer). */
  get retryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

/** The request got no HTTP answer (connection refused, DNS, reset, aborted). */
export class AgentbatchConnectionError extends AgentbatchError {
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message, 0, null);
    this.name = "AgentbatchConnectionError";
  }
}
