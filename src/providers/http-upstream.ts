import type { IncomingHttpHeaders } from "node:http";
import { Pool } from "undici";
import { abortedOutcome, retryable } from "./outcomes.js";
import type { ModelOutcome } from "./types.js";

const DEFAULT_CONNECTIONS = 256;
const KEEP_ALIVE_MS = 30_000;
const MAX_ERROR_CHARS = 500;
const TIMEOUT_CODES = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "UND_ERR_CONNECT_TIMEOUT"]);

export type ResponseBody = AsyncIterable<Buffer> & {
  text(): Promise<string>;
  destroy(err?: Error): unknown;
  readableEnded: boolean;
};

export interface UpstreamResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: ResponseBody;
}

/**
 * One HTTP upstream of a model provider: a keep-alive undici pool (at thousands of calls a
 * second, fetch's per-request overhead and connection churn would dominate) and the part of a
 * call every provider shares: the call timeout, the caller's abort, connection errors turned
 * into retryable outcomes, and the response body always released.
 */
export class HttpUpstream {
  private readonly pool: Pool;

  constructor(
    origin: string,
    readonly timeoutMs: number,
    connections = DEFAULT_CONNECTIONS,
  ) {
    this.pool = new Pool(origin, {
      connections,
      keepAliveTimeout: KEEP_ALIVE_MS,
      // Our own timer bounds the whole call; these only stop undici's 300 s defaults from
      // outliving a longer configured timeout.
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
  }

  /** POSTs `body` as JSON; `read` turns the response (any status) into the outcome. */
  async post(
    path: string,
    headers: Record<string, string>,
    body: unknown,
    signal: AbortSignal,
    read: (response: UpstreamResponse) => Promise<ModelOutcome> | ModelOutcome,
  ): Promise<ModelOutcome> {
    if (signal.aborted) return abortedOutcome();
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.timeoutMs);
    const onAbort = () => controller.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    let responseBody: ResponseBody | undefined;
    try {
      const response = await this.pool.request({
        method: "POST",
        path,
        headers,
        body: JSON.stringify(body),
        signal: controller.signal,
      });
      responseBody = response.body as unknown as ResponseBody;
      return await read({ statusCode: response.statusCode, headers: response.headers, body: responseBody });
    } catch (err) {
      if (timedOut) return retryable(504, `upstream timed out after ${this.timeoutMs} ms`, false);
      if (signal.aborted) return abortedOutcome();
      return connectionErrorOutcome(err);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      // An unread body would hold its connection; destroying a finished one is harmless.
      if (responseBody && !responseBody.readableEnded) responseBody.destroy();
    }
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

function connectionErrorOutcome(err: unknown): ModelOutcome {
  const error = err as { code?: string; message?: string };
  const detail = error.message ?? String(err);
  if (error.code && TIMEOUT_CODES.has(error.code)) {
    return retryable(504, `upstream timed out: ${truncate(detail)}`, false);
  }
  return retryable(502, `upstream connection error: ${truncate(detail)}`, false);
}

export function truncate(text: string): string {
  return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS)}…` : text;
}

export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Reads a Server-Sent Events body to its end (so the connection goes back to the pool) and hands
 * each event's data to `onEvent`: `data:` lines accumulate into one event, a blank line ends it,
 * other fields are ignored; a last event without its closing blank line still counts.
 */
export async function readSseEvents(body: ResponseBody, onEvent: (data: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  let data = "";
  const readLine = (line: string) => {
    if (line === "") {
      if (data) onEvent(data);
      data = "";
    } else if (line.startsWith("data:")) {
      const value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
      data = data ? `${data}\n${value}` : value;
    }
  };
  const consumeLines = () => {
    let start = 0;
    for (let newline = pending.indexOf("\n"); newline !== -1; newline = pending.indexOf("\n", start)) {
      const end = newline > start && pending.charCodeAt(newline - 1) === 13 ? newline - 1 : newline;
      readLine(pending.slice(start, end));
      start = newline + 1;
    }
    pending = pending.slice(start);
  };
  for await (const chunk of body) {
    pending += decoder.decode(chunk, { stream: true });
    consumeLines();
  }
  pending += decoder.decode();
  consumeLines();
  readLine(pending);
  readLine("");
}
