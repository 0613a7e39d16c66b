import type { IncomingHttpHeaders } from "node:http";
import { type Dispatcher, type Pool, util } from "undici";
import { AnswerPacer } from "./answer-pacer.js";
import { abortedOutcome, retryable } from "./outcomes.js";
import type { CallSignal, RetryableOutcome } from "./types.js";
import { UpstreamPools } from "./upstream-pools.js";

const DEFAULT_CONNECTIONS = 256;
const MAX_ERROR_CHARS = 500;
const TIMEOUT_CODES = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "UND_ERR_CONNECT_TIMEOUT"]);

export type ResponseBody = AsyncIterable<Buffer> & {
  text(): Promise<string>;
  /**
   * The body as `text()` gives it, when it was read whole before the caller saw the response (a
   * call that is not streamed): a caller can read it without a promise and an await per call.
   */
  readonly whole?: string;
  destroy(err?: Error): unknown;
  readableEnded: boolean;
};

export interface UpstreamResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: ResponseBody;
}

/**
 * One HTTP upstream of a model provider: keep-alive undici pools (`upstream-pools.ts`; at
 * thousands of calls a second, fetch's per-request overhead and connection churn would dominate)
 * and the part of a call every provider shares: the call timeout, the caller's abort, connection
 * errors turned into retryable outcomes, and the response body always released.
 */
export class HttpUpstream {
  private readonly pools: UpstreamPools;
  /** The calls in flight, by deadline: one timer for all of them. */
  private readonly deadlines = new DeadlineList();

  constructor(
    origin: string,
    readonly timeoutMs: number,
    connections = DEFAULT_CONNECTIONS,
  ) {
    this.pools = new UpstreamPools(origin, connections, timeoutMs);
  }

  /**
   * POSTs `body` as JSON; `read` turns the response (any status) into the outcome. With
   * `streamed` false the whole body is read first and `read` gets it at once (see BufferedCall);
   * with true, `read` gets the response at its headers and reads the body as it arrives.
   * `onAnswered` (not streamed only) is called once a 2xx answer is whole, on the answer pacer's
   * turn and before any answer of that turn is handed to its `read`: the caller starts its next
   * call first (bench/README.md, "Issue 17.2 at 50 ms"). `spent` tells from a 2xx answer's headers
   * that the provider's window is spent: such an answer, like any non-2xx one, frees nothing early
   * in its pacer turn, so the limiter learns from it (at `release`) before another call starts.
   */
  async post<T>(
    path: string,
    headers: Record<string, string>,
    body: unknown,
    signal: CallSignal,
    read: (response: UpstreamResponse) => Promise<T> | T,
    streamed = true,
    onAnswered?: () => void,
    spent?: (headers: IncomingHttpHeaders) => boolean,
  ): Promise<T | RetryableOutcome> {
    if (signal.aborted) return abortedOutcome();
    const deadline = performance.now() + this.timeoutMs;
    const call = streamed ? new StreamedCall(deadline) : new BufferedCall(deadline, onAnswered, spent);
    this.deadlines.add(call);
    signal.addEventListener("abort", call, ONCE);
    let responseBody: ResponseBody | undefined;
    const shard = this.pools.acquire();
    call.holdConnection(this.pools, shard);
    try {
      const response = await call.send(this.pools.pool(shard), path, headers, JSON.stringify(body));
      responseBody = response.body;
      return await read(response);
    } catch (err) {
      if (call.timedOut) return retryable(504, `upstream timed out after ${this.timeoutMs} ms`, false);
      if (signal.aborted) return abortedOutcome();
      return connectionErrorOutcome(err);
    } finally {
      call.freeConnection();
      this.deadlines.remove(call);
      signal.removeEventListener("abort", call);
      // An unread body would hold its connection; destroying a finished one is harmless.
      if (responseBody && !responseBody.readableEnded) responseBody.destroy();
    }
  }

  async close(): Promise<void> {
    this.deadlines.clear();
    await this.pools.close();
  }
}

const ONCE = { once: true } as const;

/**
 * One call in flight: its place in the deadline list and the listener on the caller's signal
 * (itself, through handleEvent, so no closure per call). Both ends, the deadline and the
 * caller's abort, go through `cancel`.
 */
abstract class Call {
  timedOut = false;
  prev: Call | null = null;
  next: Call | null = null;
  listed = false;

  /** The pools whose `shard` counts this call in flight, until `freeConnection`. */
  private pools: UpstreamPools | null = null;
  private shard = 0;

  constructor(readonly deadline: number) {}

  holdConnection(pools: UpstreamPools, shard: number): void {
    this.pools = pools;
    this.shard = shard;
  }

  /**
   * Its pool counts it no longer (once): at the end of `post`, or as soon as undici is done with
   * its connection (a body read whole), so that a call started on the answer's turn goes to the
   * pool whose connection just freed, not to one with none free, where it would wait for that
   * pool's next answer.
   */
  freeConnection(): void {
    if (this.pools === null) return;
    this.pools.release(this.shard);
    this.pools = null;
  }

  abstract send(
    pool: Pool,
    path: string,
    headers: Record<string, string>,
    body: string,
  ): Promise<UpstreamResponse>;

  /** Stops the call; `send` then rejects (or the body being read errors). */
  abstract cancel(): void;

  /** The caller's signal aborted. */
  handleEvent(): void {
    this.cancel();
  }
}

/** A call whose body `read` consumes as it arrives (SSE): undici's `request`, its Readable body. */
class StreamedCall extends Call {
  private readonly controller = new AbortController();

  async send(
    pool: Pool,
    path: string,
    headers: Record<string, string>,
    body: string,
  ): Promise<UpstreamResponse> {
    const response = await pool.request({
      method: "POST",
      path,
      headers,
      body,
      signal: this.controller.signal,
    });
    return {
      statusCode: response.statusCode,
      headers: response.headers,
      body: response.body as unknown as ResponseBody,
    };
  }

  cancel(): void {
    this.controller.abort();
  }
}

/**
 * A call whose whole body is read before `read` sees it: the call is itself undici's dispatch
 * handler. Written by hand because at 10,000 calls in flight `request`'s per-call objects (an
 * AsyncResource, a Readable body and its stream machinery, an AbortController and the listener
 * on its signal, the promise wrappers of `text()`) were a measured part of the CPU per call and
 * of the garbage (bench/README.md, "In flight"); this keeps one object per call and the chunks.
 */
class BufferedCall extends Call implements Dispatcher.DispatchHandler {
  private abort: ((reason: Error) => void) | null = null;
  private reason: Error | null = null;
  private ended = false;
  private statusCode = 0;
  private headers: IncomingHttpHeaders = {};
  private chunks: Buffer[] = [];
  private resolve: ((response: UpstreamResponse) => void) | null = null;
  private reject: ((err: Error) => void) | null = null;

  constructor(
    deadline: number,
    private onAnswered?: () => void,
    private readonly spent?: (headers: IncomingHttpHeaders) => boolean,
  ) {
    super(deadline);
  }

  send(pool: Pool, path: string, headers: Record<string, string>, body: string): Promise<UpstreamResponse> {
    return new Promise<UpstreamResponse>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      pool.dispatch({ method: "POST", path, headers, body }, this);
    });
  }

  cancel(): void {
    if (this.ended || this.reason) return;
    this.reason = new Error("upstream call cancelled");
    // Not connected yet: onConnect aborts it; connected: undici ends it through onError.
    this.abort?.(this.reason);
  }

  onConnect(abort: (reason?: Error) => void): void {
    if (this.reason) abort(this.reason);
    else this.abort = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    // 1xx (informational) heads come before the final one.
    if (statusCode >= 200) {
      this.statusCode = statusCode;
      this.headers = util.parseHeaders(rawHeaders) as IncomingHttpHeaders;
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    if (this.ended) return;
    this.ended = true;
    this.abort = null;
    this.freeConnection();
    answers.add(this);
  }

  /**
   * The limiter must learn this answer's outcome before other calls start: a non-2xx answer (a
   * 429, a 5xx), or a 2xx one whose headers say the window is spent. A pacer turn holding one
   * frees nothing early.
   */
  teaches(): boolean {
    return this.statusCode < 200 || this.statusCode >= 300 || this.spent?.(this.headers) === true;
  }

  /** The answer is whole: tells the caller, for a 2xx one (the AnswerPacer, before any `deliver` of its turn). */
  answered(): boolean {
    const hook = this.onAnswered;
    this.onAnswered = undefined;
    if (!hook || this.statusCode < 200 || this.statusCode >= 300) return false;
    hook();
    return true;
  }

  /**
   * Hands the answer to the caller (AnswerPacer, on a later turn). Decoded as undici's `text()`
   * decodes (a leading UTF-8 BOM dropped, as JSON.parse would refuse it); a body too large to be
   * one string rejects this call, as `text()` would, instead of throwing out of the pacer.
   */
  deliver(): void {
    const chunks = this.chunks;
    this.chunks = [];
    let text: string;
    try {
      const whole = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      const bom = whole.length >= 3 && whole[0] === 0xef && whole[1] === 0xbb && whole[2] === 0xbf;
      text = whole.toString("utf8", bom ? 3 : 0);
    } catch (err) {
      this.reject?.(err as Error);
      return;
    }
    this.resolve?.({ statusCode: this.statusCode, headers: this.headers, body: new BufferedBody(text) });
  }

  onError(err: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.abort = null;
    this.freeConnection();
    this.chunks = [];
    this.onAnswered = undefined;
    this.reject?.(err);
  }
}

const answers = new AnswerPacer<BufferedCall>();

/** A body read whole, behind the streamed body's interface. */
class BufferedBody implements ResponseBody {
  readonly readableEnded = true;

  constructor(readonly whole: string) {}

  text(): Promise<string> {
    return Promise.resolve(this.whole);
  }

  destroy(): void {}

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    if (this.whole !== "") yield Buffer.from(this.whole);
  }
}

/**
 * The calls in flight of one upstream, oldest first. They share one timeout, so deadlines come
 * in the order calls start: a doubly linked list gives O(1) add and remove, and one timer, set for
 * the oldest deadline, replaces a timer per call (10,000 calls in flight held 10,000 timers and
 * their closures). When it fires it times out every call past its deadline, then is set again
 * for the oldest one left; a call that ends normally is only unlinked.
 */
class DeadlineList {
  private head: Call | null = null;
  private tail: Call | null = null;
  private timer: NodeJS.Timeout | null = null;

  add(call: Call): void {
    call.prev = this.tail;
    if (this.tail) this.tail.next = call;
    else this.head = call;
    this.tail = call;
    call.listed = true;
    if (!this.timer) this.schedule(call.deadline);
  }

  remove(call: Call): void {
    if (!call.listed) return;
    call.listed = false;
    if (call.prev) call.prev.next = call.next;
    else this.head = call.next;
    if (call.next) call.next.prev = call.prev;
    else this.tail = call.prev;
    call.prev = call.next = null;
    if (!this.head) this.clear();
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(deadline: number): void {
    // Unref'd: the sockets of the calls in flight keep the process up, as a per-call timer did.
    this.timer = setTimeout(this.expire, Math.max(1, Math.ceil(deadline - performance.now()))).unref();
  }

  private readonly expire = (): void => {
    this.timer = null;
    const now = performance.now();
    while (this.head && this.head.deadline <= now) {
      const call = this.head;
      this.remove(call);
      call.timedOut = true;
      call.cancel();
    }
    if (this.head) this.schedule(this.head.deadline);
  };
}

function connectionErrorOutcome(err: unknown): RetryableOutcome {
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
