import { AgentbatchConnectionError, AgentbatchError } from "./errors.js";

export interface TransportOptions {
  /** The server, e.g. `http://127.0.0.1:8080` (with or without `/api/v1`). */
  baseUrl: string;
  apiKey?: string;
  /** A fetch implementation (defaults to the global one). */
  fetch?: typeof fetch;
  /** Retries of a request answered 429 or 5xx, or not answered (default 3). */
  maxRetries?: number;
  /** First retry delay when the server gives no Retry-After (default 500 ms; doubles, with jitter). */
  retryBaseMs?: number;
  /** Longest wait between two attempts (default 30 s). */
  retryMaxMs?: number;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
}

export type Query = Record<string, string | number | boolean | string[] | undefined | null>;

export interface RequestOptions {
  method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE";
  /** Path below `/api/v1`, e.g. `/batches`. */
  path: string;
  query?: Query;
  /** JSON body, or FormData (sent as multipart). */
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /**
   * Whether the request may be sent again after a 5xx or a lost connection. GETs are; a POST is
   * when repeating it cannot do the work twice (an Idempotency-Key, or a state change such as
   * cancel or pause that lands in the same state). A 429 is always retried: the server refused
   * the request before doing anything.
   */
  idempotent?: boolean;
}

/** Milliseconds a Retry-After header asks for (seconds or an HTTP date), or null. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export { sleep };

/** Sends requests to the API: auth header, JSON, the envelope's errors as AgentbatchError, retries. */
export class Transport {
  readonly apiBase: string;
  private readonly fetchFn: typeof fetch;
  private readonly maxRetries: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;

  constructor(private readonly options: TransportOptions) {
    const base = options.baseUrl.replace(/\/+$/, "");
    this.apiBase = base.endsWith("/api/v1") ? base : `${base}/api/v1`;
    // Bound to globalThis: browsers throw "Illegal invocation" for a detached window.fetch.
    this.fetchFn = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.maxRetries = options.maxRetries ?? 3;
    this.retryBaseMs = options.retryBaseMs ?? 500;
    this.retryMaxMs = options.retryMaxMs ?? 30_000;
  }

  url(path: string, query?: Query): string {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v === undefined || v === null) continue;
      q.set(k, Array.isArray(v) ? v.join(",") : String(v));
    }
    const s = q.toString();
    return `${this.apiBase}${path}${s ? `?${s}` : ""}`;
  }

  /** Sends the request and returns the parsed envelope; non-2xx answers throw AgentbatchError. */
  async json<T>(req: RequestOptions): Promise<T> {
    const res = await this.send(req);
    const text = await res.text();
    if (text === "") return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new AgentbatchError(`Expected JSON from ${req.method} ${req.path}`, res.status, null, text);
    }
  }

  /** Sends the request with retries and returns the successful Response, body unread. */
  async send(req: RequestOptions): Promise<Response> {
    const retryOn5xx = req.idempotent ?? req.method === "GET";
    // Set once an attempt got a 5xx or no answer: it may have done the work.
    let uncertain = false;
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await this.fetchFn(this.url(req.path, req.query), this.init(req));
      } catch (err) {
        if (req.signal?.aborted) throw err;
        const error = new AgentbatchConnectionError(
          `Cannot reach ${this.apiBase}: ${(err as Error).cause ? String((err as { cause: unknown }).cause) : (err as Error).message}`,
          err,
        );
        error.afterUncertainAttempt = uncertain;
        if (!retryOn5xx || attempt >= this.maxRetries) throw error;
        uncertain = true;
        await sleep(this.backoff(attempt, null), req.signal);
        continue;
      }
      if (res.ok) return res;
      const error = await toError(res);
      error.afterUncertainAttempt = uncertain;
      const retry = res.status === 429 || (res.status >= 500 && retryOn5xx);
      if (!retry || attempt >= this.maxRetries) throw error;
      if (res.status >= 500) uncertain = true;
      await sleep(this.backoff(attempt, parseRetryAfter(res.headers.get("retry-after"))), req.signal);
    }
  }

  /** Exponential backoff with full jitter; a Retry-After from the server wins. */
  private backoff(attempt: number, retryAfterMs: number | null): number {
    if (retryAfterMs !== null) return Math.min(retryAfterMs, this.retryMaxMs);
    const ceiling = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** attempt);
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  private init(req: RequestOptions): RequestInit {
    const headers: Record<string, string> = { accept: "application/json", ...this.options.headers };
    if (this.options.apiKey) headers["x-api-key"] = this.options.apiKey;
    let body: BodyInit | undefined;
    if (req.body instanceof FormData) {
      body = req.body;
    } else if (req.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(req.body);
    }
    return { method: req.method, headers: { ...headers, ...req.headers }, body, signal: req.signal };
  }
}

async function toError(res: Response): Promise<AgentbatchError> {
  const text = await res.text().catch(() => "");
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON: keep the text */
  }
  const env = (typeof body === "object" && body !== null ? body : {}) as {
    message?: unknown;
    error_code?: unknown;
  };
  const message = typeof env.message === "string" && env.message ? env.message : `HTTP ${res.status}`;
  const code = typeof env.error_code === "number" ? env.error_code : null;
  return new AgentbatchError(message, res.status, code, body, res.headers);
}
