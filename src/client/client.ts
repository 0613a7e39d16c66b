import { BatchesApi, FINAL_BATCH_STATUSES, type WaitOptions } from "./batches-api.js";
import { Transport, type TransportOptions } from "./http.js";
import type { PageIterator } from "./pagination.js";
import { enc, Resource } from "./resource.js";
import { parseSse } from "./sse.js";
import type {
  Agent,
  Batch,
  BatchEvent,
  Chat,
  ChatAwaitingToolCalls,
  ChatMessage,
  ChatToolCallsCancelled,
  CreateAgentParams,
  CreateBatchParams,
  CreateChatParams,
  ListChatsParams,
  PageParams,
  SendMessageParams,
  ToolOutput,
  UpdateAgentParams,
  UploadedFile,
} from "./types.js";

export type { CreateOptions, WaitOptions } from "./batches-api.js";
export { BatchesApi, FINAL_BATCH_STATUSES } from "./batches-api.js";

export type AgentbatchClientOptions = TransportOptions;

export interface UploadOptions {
  filename: string;
  contentType?: string;
  /** What the file is for (default `batch_input`: a batch's requests). */
  purpose?: string;
  signal?: AbortSignal;
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

  /**
   * Answers every client tool call the chat's turn waits on and returns the answer text (or the
   * calls it waits on next). A message to an agent with client tools answers with
   * `{status: "awaiting_tool_calls", calls}` instead of text.
   */
  submitToolOutputs(chatId: number, outputs: ToolOutput[]): Promise<string | ChatAwaitingToolCalls> {
    return this.data({
      method: "POST",
      path: `/chats/${chatId}/tool-outputs`,
      body: { outputs, stream: false },
    });
  }

  /**
   * Drops the turn the chat waits on instead of answering its client tool calls (nothing of it is
   * stored); the chat then takes messages again. Returns the calls that were waiting.
   */
  cancelToolCalls(chatId: number): Promise<ChatToolCallsCancelled> {
    return this.data({ method: "POST", path: `/chats/${chatId}/tool-outputs`, body: { cancel: true } });
  }

  /** Messages of a chat, oldest first (a batch result's `history_id` is its chat). */
  messages(chatId: number, params: PageParams = {}): PageIterator<ChatMessage> {
    return this.paged<ChatMessage>(`/chats/${chatId}/messages`, params);
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
