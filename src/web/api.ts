/**
 * The dashboard's HTTP layer: the API key (localStorage), JSON calls in the API's envelope,
 * file downloads and the live progress stream. Every call sends the key as `x-api-key`.
 */

import { readSseEvents, type SseEvent } from "../providers/sse.js";

const KEY_STORAGE = "agentbatch.apiKey";
export const API = "/api/v1";

export function getKey(): string | null {
  return localStorage.getItem(KEY_STORAGE);
}

export function setKey(key: string): void {
  localStorage.setItem(KEY_STORAGE, key.trim());
}

export function clearKey(): void {
  localStorage.removeItem(KEY_STORAGE);
  window.dispatchEvent(new Event("agentbatch:signed-out"));
}

/** A key from a sign-in link that differs from the stored one, waiting for the user's answer. */
let pendingKey: string | null = null;

/**
 * Takes a key given as `#key=…` or `?key=…` and removes it from the address bar and history.
 * With no key stored it is kept at once; a different stored key is not replaced silently (a
 * link from someone else would switch the browser to their workspace): the key waits in
 * `pendingLinkKey()` until the user answers `answerLinkKey`.
 */
export function takeKeyFromUrl(): boolean {
  const url = new URL(window.location.href);
  const hash = new URLSearchParams(url.hash.replace(/^#/, ""));
  const key = (url.searchParams.get("key") ?? hash.get("key"))?.trim();
  if (!key) return false;
  url.searchParams.delete("key");
  hash.delete("key");
  const rest = hash.toString();
  window.history.replaceState(null, "", `${url.pathname}${url.search}${rest ? `#${rest}` : ""}`);
  const current = getKey();
  if (current !== null && current !== key) {
    pendingKey = key;
    return false;
  }
  setKey(key);
  return true;
}

export function pendingLinkKey(): string | null {
  return pendingKey;
}

/** The user's answer about a link's different key: replace the stored key (and reload) or keep it. */
export function answerLinkKey(replace: boolean): void {
  const key = pendingKey;
  pendingKey = null;
  if (replace && key) {
    setKey(key);
    window.location.reload();
  }
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly errorCode: number | null,
    readonly body: unknown = null,
  ) {
    super(message);
  }
}

export interface Pagination {
  total_records: number;
  current_page: number;
  total_pages: number;
  next_page: string | null;
  prev_page: string | null;
  limit: number;
  offset: number;
}

export interface Envelope<T> {
  data: T;
  message: string;
  error_code: number;
  pagination?: Pagination;
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const key = getKey();
  return { ...(key ? { "x-api-key": key } : {}), ...extra };
}

async function failure(res: Response): Promise<ApiError> {
  const text = await res.text();
  let body: any = null;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  const message = body?.message ?? (text.slice(0, 200) || res.statusText);
  const err = new ApiError(message, res.status, body?.error_code ?? null, body);
  // 10001: the key is missing or no longer valid; ask for another one.
  if (err.errorCode === 10001 && (res.status === 400 || res.status === 401)) clearKey();
  return err;
}

/** One API call; resolves to the whole envelope, rejects with ApiError carrying the API's message. */
export async function call<T>(method: string, path: string, body?: unknown): Promise<Envelope<T>> {
  const isForm = body instanceof FormData;
  const res = await fetch(`${API}${path}`, {
    method,
    headers: headers(body === undefined || isForm ? {} : { "content-type": "application/json" }),
    body: body === undefined ? undefined : isForm ? body : JSON.stringify(body),
  });
  if (!res.ok) throw await failure(res);
  return (await res.json()) as Envelope<T>;
}

export const get = <T>(path: string) => call<T>("GET", path).then((e) => e.data);
export const post = <T>(path: string, body?: unknown) => call<T>("POST", path, body).then((e) => e.data);
export const patch = <T>(path: string, body: unknown) => call<T>("PATCH", path, body).then((e) => e.data);

/** Fetches `path` with the key and saves the response as a file (a link cannot send headers). */
export async function download(path: string, filename: string): Promise<void> {
  const res = await fetch(`${API}${path}`, { headers: headers() });
  if (!res.ok) throw await failure(res);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export interface StreamEvent {
  event: string;
  id: string | null;
  data: unknown;
}

/**
 * Reads a Server-Sent Events stream with fetch (EventSource cannot send the key header),
 * reconnecting with Last-Event-ID until `signal` aborts or `shouldStop` says the stream is done.
 * Rejects with ApiError when the route answers with an error (a 404: no live progress here).
 */
export async function subscribe(
  path: string,
  onEvent: (e: StreamEvent) => void,
  signal: AbortSignal,
  shouldStop: () => boolean = () => false,
): Promise<void> {
  let lastId: string | null = null;
  let backoffMs = 500;
  while (!signal.aborted && !shouldStop()) {
    let res: Response;
    try {
      res = await fetch(`${API}${path}`, {
        headers: headers({ accept: "text/event-stream", ...(lastId ? { "last-event-id": lastId } : {}) }),
        signal,
        cache: "no-store",
      });
    } catch {
      // The connection failed (server restarting, network): retry with backoff.
      if (signal.aborted) return;
      await sleep(backoffMs, signal);
      backoffMs = Math.min(backoffMs * 2, 10_000);
      continue;
    }
    if (res.status === 204) return; // the stream has nothing more to say (the batch ended)
    if (!res.ok || !res.body) throw await failure(res);
    backoffMs = 500;
    try {
      for await (const sse of readSseEvents(chunksOf(res.body))) {
        const e = toStreamEvent(sse);
        if (e.id) lastId = e.id;
        onEvent(e);
        if (shouldStop()) break;
      }
    } catch {
      if (signal.aborted) return;
    }
    if (!signal.aborted && !shouldStop()) await sleep(backoffMs, signal);
  }
}

/** A fetch body as the chunks readSseEvents takes (Safari's ReadableStream is not async iterable). */
async function* chunksOf(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

/** The dashboard's view of an event: `message` when unnamed, data parsed as JSON when it is JSON. */
function toStreamEvent(event: SseEvent): StreamEvent {
  let data: unknown = event.data;
  try {
    data = JSON.parse(event.data);
  } catch {
    /* plain text data */
  }
  return { event: event.event ?? "message", id: event.id ?? null, data };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });
}
