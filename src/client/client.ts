import { type RequestOptions, sleep, Transport, type TransportOptions } from "./http.js";
import { PageIterator } from "./pagination.js";
import { parseSse } from "./sse.js";
import type {
  Agent,
  Batch,
  BatchEvent,
  BatchResult,
  Chat,
  ChatMessage,
  CreateAgentParams,
  CreateBatchParams,
  CreateChatParams,
  Envelope,
  ExportFormat,
  ListBatchesParams,
  ListChatsParams,
  ListResultsParams,
  Page,
  PageParams,
  SendMessageParams,
  StatusMap,
  UpdateAgentParams,
  UploadedFile,
  WebhookDelivery,
} from "./types.js";

export type AgentbatchClientOptions = TransportOptions;

/** Statuses a batch never leaves. */
export const FINAL_BATCH_STATUSES: readonly string[] = ["completed", "failed", "cancelled"];

export interface WaitOptions {
  /** Called with the batch after every poll. */
  onProgress?: (batch: Batch) => void;
  /** First poll interval (default 1000 ms); it grows ×1.5 while nothing moves, up to maxPollIntervalMs. */
  pollIntervalMs?: number;
  /** Longest poll interval (default 10 s). */
  maxPollIntervalMs?: number;
  /** Stops waiting (the batch keeps running). */
  signal?: AbortSignal;
}

export interface CreateOptions {
  /**
   * Makes a repeated create return the same batch instead of a second one. Generated when not
   * given, so that the client can safely retry a create that got no answer.
   */
  idempotencyKey?: string;
  signal?: AbortSignal;
}

export interface UploadOptions {
  filename: string;
  contentType?: string;
  /** What the file is for (default `batch_input`: a batch's requests). */
  purpose?: string;
  signal?: AbortSignal;
}

function randomId(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  // crypto.randomUUID needs a secure context in browsers; getRandomValues does not.
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join(
    "",
  );
}

const enc = encodeURIComponent;

class Resource {
  constructor(protected readonly http: Transport) {}

  protected async data<T>(req: RequestOptions): Promise<T> {
    return (await this.http.json<Envelope<T>>(req)).data;
  }

  protected async page<T>(req: RequestOptions): Promise<Page<T>> {
    const env = await this.http.json<Envelope<T[]>>(req);
    const data = env.data ?? [];
    return {
      data,
      pagination: env.pagination ?? {
        limit: data.length,
        offset: 0,
        total_records: data.length,
        total_pages: 1,
        current_page: 1,
        next_page: null,
        prev_page: null,
      },
    };
  }

  protected paged<T>(path: string, params: PageParams, query: RequestOptions["query"] = {}): PageIterator<T> {
    return new PageIterator<T>(
      (p) => this.page<T>({ method: "GET", path, query: { ...query, limit: p.limit, offset: p.offset } }),
      params,
    );
  }
}

export class AgentsApi extends Resource {
  create(params: CreateAgentParams): Promise<Agent> {
    return this.data({ method: "POST", path: "/agents", body: params });
  }

  /** Agents of the workspace, newest first: iterate, or `.page()`. */
  list(params: PageParams = {}): PageIterator<Agent> {
    return this.paged<Agent>("/agents", params);
  }

  get(id: string): Promise<Agent> {
    return this.data({ method: "GET", path: `/agents/${enc(id)}` });
  }

  update(id: string, params: UpdateAgentParams): Promise<Agent> {
    return this.data({ method: "PATCH", path: `/agents/${enc(id)}`, body: params, idempotent: true });
  }

  /** Snapshots the agent's current settings as a new published version (used by new batches). */
  publish(id: string): Promise<Agent> {
    return this.data({ method: "POST", path: `/agents/${enc(id)}/publish` });
  }
}

export class BatchesApi extends Resource {
  /** Creates a batch (202: it runs in the background). */
  create(params: CreateBatchParams, options: CreateOptions = {}): Promise<Batch> {
    return this.data({
      method: "POST",
      path: "/batches",
      body: params,
      headers: { "idempotency-key": options.idempotencyKey ?? randomId() },
      idempotent: true,
      signal: options.signal,
    });
  }

  /** Batches of the workspace, newest first: `for await (const b of client.batches.list())`, or `.page()`. */
  list(params: ListBatchesParams = {}): PageIterator<Batch> {
    const { status, ...page } = params;
    return this.paged<Batch>("/batches", page, { status });
  }

  /** One page of batches with its pagination. */
  listPage(params: ListBatchesParams = {}): Promise<Page<Batch>> {
    return this.list(params).page();
  }

  /** Batches that are not finished (validating, in_progress, paused, cancelling). */
  active(params: PageParams = {}): PageIterator<Batch> {
    return this.paged<Batch>("/batches/active", params);
  }

  get(id: string, options: { signal?: AbortSignal } = {}): Promise<Batch> {
    return this.data({ method: "GET", path: `/batches/${enc(id)}`, signal: options.signal });
  }

  /** Results in submission order: `for await (const r of client.batches.results(id))`, or `.page()`. */
  results(id: string, params: ListResultsParams = {}): PageIterator<BatchResult> {
    const { status, ...page } = params;
    return this.paged<BatchResult>(`/batches/${enc(id)}/results`, page, { status });
  }

  /** One page of results with its pagination. */
  resultsPage(id: string, params: ListResultsParams = {}): Promise<Page<BatchResult>> {
    return this.results(id, params).page();
  }

  /** The result of one request, by its custom_id. */
  result(id: string, customId: string): Promise<BatchResult> {
    return this.data({ method: "GET", path: `/batches/${enc(id)}/results/${enc(customId)}` });
  }

  /** custom_ids grouped by request status; `limit`/`offset` apply to each list. */
  statusMap(id: string, params: PageParams = {}): Promise<StatusMap> {
    return this.data({ method: "GET", path: `/batches/${enc(id)}/status-map`, query: { ...params } });
  }

  /** The webhook deliveries of a batch: attempts, status codes, next try, last error. */
  webhookDeliveries(
    id: string,
    params: PageParams & { status?: string } = {},
  ): PageIterator<WebhookDelivery> {
    const { status, ...page } = params;
    return this.paged<WebhookDelivery>(`/batches/${enc(id)}/webhook-deliveries`, page, { status });
  }

  /** Sends a webhook delivery again now (same webhook-id). */
  redeliverWebhook(id: string, deliveryId: string): Promise<WebhookDelivery> {
    return this.data({
      method: "POST",
      path: `/batches/${enc(id)}/webhook-deliveries/${enc(deliveryId)}/redeliver`,
      idempotent: true,
    });
  }

  /** Every result as a CSV, JSONL or JSON byte stream (streamed by the server, any size). */
  async export(
    id: string,
    format: ExportFormat,
    options: { signal?: AbortSignal } = {},
  ): Promise<ReadableStream<Uint8Array>> {
    const res = await this.exportResponse(id, format, options.signal);
    return res.body ?? new Blob([]).stream();
  }

  /** Every result as one string in the format asked for. */
  async exportText(
    id: string,
    format: ExportFormat,
    options: { signal?: AbortSignal } = {},
  ): Promise<string> {
    return (await this.exportResponse(id, format, options.signal)).text();
  }

  private exportResponse(id: string, format: ExportFormat, signal?: AbortSignal): Promise<Response> {
    return this.http.send({
      method: "GET",
      path: `/batches/${enc(id)}/results`,
      query: { format },
      headers: { accept: "*/*" },
      signal,
    });
  }

  /** Cancels: pending requests fail with 499 at once, running ones finish. */
  cancel(id: string): Promise<Batch> {
    return this.control(id, "cancel");
  }

  /** Pauses: no new request starts, running ones finish. */
  pause(id: string): Promise<Batch> {
    return this.control(id, "pause");
  }

  resume(id: string): Promise<Batch> {
    return this.control(id, "resume");
  }

  /** Runs the failed requests of a finished batch again, keeping its successes. */
  retry(id: string): Promise<Batch> {
    return this.control(id, "retry");
  }

  private control(id: string, action: string): Promise<Batch> {
    // A state change asked for twice lands in the same state (or answers 409), so it may be retried.
    return this.data({ method: "POST", path: `/batches/${enc(id)}/${action}`, idempotent: true });
  }

  /**
   * Live progress as Server-Sent Events, until the server ends the stream or `signal` aborts.
   * `lastEventId` resumes after an event already seen.
   */
  async *events(
    id: string,
    options: { signal?: AbortSignal; lastEventId?: string } = {},
  ): AsyncGenerator<BatchEvent> {
    const res = await this.http.send({
      method: "GET",
      path: `/batches/${enc(id)}/events`,
      headers: {
        accept: "text/event-stream",
        ...(options.lastEventId ? { "last-event-id": options.lastEventId } : {}),
      },
      signal: options.signal,
    });
    if (res.body) yield* parseSse(res.body);
  }

  /**
   * Polls the batch until it is completed, failed or cancelled and returns it. The interval
   * starts at `pollIntervalMs` and backs off while the batch does not move.
   */
  async wait(id: string, options: WaitOptions = {}): Promise<Batch> {
    const base = options.pollIntervalMs ?? 1000;
    const max = Math.max(base, options.maxPollIntervalMs ?? 10_000);
    let interval = base;
    let last = "";
    for (;;) {
      const batch = await this.get(id, { signal: options.signal });
      options.onProgress?.(batch);
      if (FINAL_BATCH_STATUSES.includes(batch.status)) return batch;
      const fingerprint = `${batch.status}:${batch.completed_requests}:${batch.failed_requests}:${batch.processing_requests}`;
      interval = fingerprint === last ? Math.min(max, interval * 1.5) : base;
      last = fingerprint;
      await sleep(interval, options.signal);
    }
  }
}

export class ChatsApi extends Resource {
  /** Published agents (the Codeer Chat API's agent list). */
  publishedAgents(params: PageParams = {}): PageIterator<Agent> {
    return this.paged<Agent>("/chats/published-agents", params);
  }

  create(params: CreateChatParams): Promise<Chat> {
    return this.data({ method: "POST", path: "/chats", body: params });
  }

  /** Chats of the workspace (newest first by default). */
  list(params: ListChatsParams = {}): PageIterator<Chat> {
    const { limit, offset, ...filters } = params;
    return this.paged<Chat>("/chats", { limit, offset }, filters);
  }

  get(chatId: number): Promise<Chat> {
    return this.data({ method: "GET", path: `/chats/${chatId}` });
  }

  rename(chatId: number, name: string): Promise<Chat> {
    return this.data({ method: "PUT", path: `/chats/${chatId}`, body: { name }, idempotent: true });
  }

  /** Sends a message and returns the whole answer text (`stream: false`). */
  send(chatId: number, params: SendMessageParams): Promise<string> {
    return this.data({
      method: "POST",
      path: `/chats/${chatId}/messages`,
      body: { ...params, stream: false },
    });
  }

  /**
   * Sends a message and yields the answer's Server-Sent Events as they come
   * (`response.created`, `response.output_text.delta`, ..., `response.output_text.completed`).
   */
  async *sendStream(
    chatId: number,
    params: SendMessageParams,
    options: { signal?: AbortSignal } = {},
  ): AsyncGenerator<BatchEvent> {
    const res = await this.http.send({
      method: "POST",
      path: `/chats/${chatId}/messages`,
      body: { ...params, stream: true },
      headers: { accept: "text/event-stream" },
      signal: options.signal,
    });
    if (!res.body) return;
    for await (const e of parseSse(res.body)) {
      if (e.data === "[DONE]") return;
      yield e;
    }
  }

  /** Messages of a chat, oldest first (a batch result's `history_id` is its chat). */
  messages(chatId: number): Promise<ChatMessage[]> {
    return this.data({ method: "GET", path: `/chats/${chatId}/messages` });
  }
}

export class FilesApi extends Resource {
  get(id: string): Promise<UploadedFile> {
    return this.data({ method: "GET", path: `/files/${enc(id)}` });
  }

  /**
   * Uploads a batch input file (CSV, JSONL or JSON; any number of rows), to create a batch
   * with `file_id`. Send the Blob of a browser file input, or bytes/text with a filename.
   */
  upload(content: Blob | Uint8Array | string, options: UploadOptions): Promise<UploadedFile> {
    const form = new FormData();
    form.append("purpose", options.purpose ?? "batch_input");
    const blob =
      content instanceof Blob
        ? content
        : new Blob([content as BlobPart], { type: options.contentType ?? "application/octet-stream" });
    form.append("file", blob, options.filename);
    return this.data({ method: "POST", path: "/files", body: form, signal: options.signal });
  }
}

/**
 * The agentbatch API from TypeScript, in Node 20+ and browsers, on `fetch` alone.
 *
 * ```ts
 * const client = new AgentbatchClient({ baseUrl: "http://127.0.0.1:8080", apiKey });
 * const batch = await client.createBatchAndWait({ agent_id, requests }, { onProgress: (b) => ... });
 * for await (const r of client.batches.results(batch.id)) console.log(r.custom_id, r.status);
 * ```
 */
export class AgentbatchClient {
  readonly agents: AgentsApi;
  readonly batches: BatchesApi;
  readonly chats: ChatsApi;
  readonly files: FilesApi;
  /** The low-level transport (auth, retries, errors), for endpoints without a method yet. */
  readonly http: Transport;

  constructor(options: AgentbatchClientOptions) {
    this.http = new Transport(options);
    this.agents = new AgentsApi(this.http);
    this.batches = new BatchesApi(this.http);
    this.chats = new ChatsApi(this.http);
    this.files = new FilesApi(this.http);
  }

  /** Creates a batch and polls it until it is completed, failed or cancelled. */
  async createBatchAndWait(
    params: CreateBatchParams,
    options: WaitOptions & { idempotencyKey?: string } = {},
  ): Promise<Batch> {
    const batch = await this.batches.create(params, {
      idempotencyKey: options.idempotencyKey,
      signal: options.signal,
    });
    options.onProgress?.(batch);
    if (FINAL_BATCH_STATUSES.includes(batch.status)) return batch;
    return this.batches.wait(batch.id, options);
  }
}
