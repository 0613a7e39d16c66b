import { AgentbatchError } from "./errors.js";
import { sleep } from "./http.js";
import type { PageIterator } from "./pagination.js";
import { enc, Resource } from "./resource.js";
import { parseSse } from "./sse.js";
import type {
  Batch,
  BatchEvent,
  BatchResult,
  CreateBatchParams,
  ExportFormat,
  ListBatchesParams,
  ListResultsParams,
  Page,
  PageParams,
  StatusMap,
  ToolCall,
  ToolOutput,
  ToolOutputsResult,
  TurnStep,
  WebhookDelivery,
} from "./types.js";

/** Statuses in which nothing of a batch runs: a resume that went through leaves them. */
const HALTED_BATCH_STATUSES: readonly string[] = ["paused", "cancelling", "cancelled"];

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

function randomId(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  // crypto.randomUUID needs a secure context in browsers; getRandomValues does not.
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join(
    "",
  );
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

  /**
   * The client tool calls the batch's requests wait on. Answered calls leave the list, so collect
   * them (`toArray()`) before answering, or read `.page()` again after each answer.
   */
  toolCalls(id: string, params: PageParams = {}): PageIterator<ToolCall> {
    return this.paged<ToolCall>(`/batches/${enc(id)}/tool-calls`, params, { status: "pending" });
  }

  /** Answers client tool calls (≤ 1000 per call); a request resumes once all its calls are answered. */
  submitToolOutputs(
    id: string,
    outputs: ToolOutput[],
    options: { signal?: AbortSignal } = {},
  ): Promise<ToolOutputsResult> {
    // Safe to send again: an answered call is refused ("already answered"), never applied twice.
    return this.data({
      method: "POST",
      path: `/batches/${enc(id)}/tool-outputs`,
      body: { outputs },
      idempotent: true,
      signal: options.signal,
    });
  }

  /** The transcript of one request of an agent with tools. */
  steps(
    id: string,
    customId: string,
  ): Promise<{ batch_id: string; custom_id: string; status: string; steps: TurnStep[] }> {
    return this.data({ method: "GET", path: `/batches/${enc(id)}/results/${enc(customId)}/steps` });
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

  /**
   * Resumes a paused batch. Sent again after a 5xx or a lost connection; if the first try went
   * through, the repeat is a 409 (no longer paused), and the batch is returned when it runs on.
   */
  async resume(id: string): Promise<Batch> {
    try {
      return await this.control(id, "resume", true);
    } catch (err) {
      if (!(err instanceof AgentbatchError) || err.status !== 409 || !err.afterUncertainAttempt) throw err;
      const batch = await this.get(id);
      if (HALTED_BATCH_STATUSES.includes(batch.status)) throw err;
      return batch;
    }
  }

  /**
   * Runs the failed requests of a finished batch again, keeping its successes. Never sent again
   * after a 5xx or a lost connection: a repeat could run the failed requests twice.
   */
  retry(id: string): Promise<Batch> {
    return this.control(id, "retry", false);
  }

  /**
   * A state change. Cancel and pause asked for twice land in the same state (200/202 again), so
   * they may be repeated after a 5xx or a lost connection.
   */
  private control(id: string, action: string, idempotent = true): Promise<Batch> {
    return this.data({ method: "POST", path: `/batches/${enc(id)}/${action}`, idempotent });
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
