import { createWriteStream, type WriteStream } from "node:fs";
import type { AddressInfo } from "node:net";
import Fastify, { type FastifyReply } from "fastify";
import { simulateReply } from "../providers/simulator.js";
import { splitForStreaming } from "../providers/stream-chunks.js";
import { lastUserText } from "../providers/text.js";
import type { ChatMessage, ContentPart } from "../providers/types.js";
import { registerAnthropicMessages } from "./anthropic-messages.js";

export interface MockLlmOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  /** Time before answering; a stream spreads its chunks over it. */
  latencyMs?: number;
  /** Requests per minute before answering 429. */
  rpm?: number;
  /** Tokens (prompt + completion) per minute before answering 429. */
  tpm?: number;
  /** Share of requests, 0 to 1, answered with an injected 500. */
  errorRate?: number;
  /** Appends one JSON line per request to this file. */
  logFile?: string;
}

export interface MockRequestLogEntry {
  /** Epoch milliseconds. */
  at: number;
  status: number;
  model: string;
  /** The first 200 characters of the last user message. */
  lastUserMessage: string;
}

export interface MockLlm {
  /** The OpenAI base URL, e.g. `http://127.0.0.1:PORT/v1`. */
  url: string;
  port: number;
  /** Every chat completion request so far, in arrival order. */
  log: MockRequestLogEntry[];
  close(): Promise<void>;
}

const WINDOW_MS = 60_000;
const LOGGED_MESSAGE_CHARS = 200;
const MODELS = ["mock-model", "gpt-4o-mini", "echo"];

/**
 * Requests or tokens per minute as a bucket that refills continuously, the way OpenAI describes
 * its limits: a full minute's allowance may burst, then it comes back at the limit's rate.
 */
class MinuteBucket {
  private level: number;
  private updatedAt: number;
  private readonly perMs: number;

  constructor(readonly capacity: number) {
    this.level = capacity;
    this.updatedAt = Date.now();
    this.perMs = capacity / WINDOW_MS;
  }

  refill(now: number): void {
    this.level = Math.min(this.capacity, this.level + (now - this.updatedAt) * this.perMs);
    this.updatedAt = now;
  }

  /** 0 when `amount` is available now, else how long until it is. */
  waitMs(amount: number): number {
    return amount <= this.level ? 0 : (amount - this.level) / this.perMs;
  }

  take(amount: number): void {
    this.level -= amount;
  }

  remaining(): number {
    return Math.max(0, Math.floor(this.level));
  }

  msUntilFull(): number {
    return (this.capacity - this.level) / this.perMs;
  }
}

interface CompletionBody {
  model?: unknown;
  messages?: unknown;
  stream?: unknown;
  stream_options?: { include_usage?: unknown } | null;
}

type OpenAIMessage = { role: string; content?: unknown };

/** An OpenAI-compatible upstream for the demo, tests and benchmarks; see README.md. */
export async function startMockLlm(opts: MockLlmOptions = {}): Promise<MockLlm> {
  const latencyMs = opts.latencyMs ?? 0;
  const errorRate = opts.errorRate ?? 0;
  const requestBucket = opts.rpm ? new MinuteBucket(opts.rpm) : undefined;
  const tokenBucket = opts.tpm ? new MinuteBucket(opts.tpm) : undefined;
  const log: MockRequestLogEntry[] = [];
  const countsByStatus: Record<string, number> = {};
  const logStream: WriteStream | undefined = opts.logFile
    ? createWriteStream(opts.logFile, { flags: "a" })
    : undefined;
  let completionSeq = 0;

  const record = (status: number, model: string, lastUserMessage: string) => {
    const entry: MockRequestLogEntry = {
      at: Date.now(),
      status,
      model,
      lastUserMessage: lastUserMessage.slice(0, LOGGED_MESSAGE_CHARS),
    };
    log.push(entry);
    countsByStatus[status] = (countsByStatus[status] ?? 0) + 1;
    logStream?.write(`${JSON.stringify(entry)}\n`);
  };

  const rateLimitHeaders = (): Record<string, string> => {
    const headers: Record<string, string> = {};
    if (requestBucket) {
      headers["x-ratelimit-limit-requests"] = String(requestBucket.capacity);
      headers["x-ratelimit-remaining-requests"] = String(requestBucket.remaining());
      headers["x-ratelimit-reset-requests"] = formatDuration(requestBucket.msUntilFull());
    }
    if (tokenBucket) {
      headers["x-ratelimit-limit-tokens"] = String(tokenBucket.capacity);
      headers["x-ratelimit-remaining-tokens"] = String(tokenBucket.remaining());
      headers["x-ratelimit-reset-tokens"] = formatDuration(tokenBucket.msUntilFull());
    }
    return headers;
  };

  // Tokens are charged all-or-nothing: a request refused for tokens does not spend a request.
  const admit = (tokens: number): { waitMs: number; limit: "requests" | "tokens" } | undefined => {
    const now = Date.now();
    requestBucket?.refill(now);
    tokenBucket?.refill(now);
    const requestWait = requestBucket?.waitMs(1) ?? 0;
    if (requestWait > 0) return { waitMs: requestWait, limit: "requests" };
    const tokenWait = tokenBucket?.waitMs(tokens) ?? 0;
    if (tokenWait > 0) return { waitMs: tokenWait, limit: "tokens" };
    requestBucket?.take(1);
    tokenBucket?.take(tokens);
    return undefined;
  };

  const app = Fastify({ logger: false, bodyLimit: 50 * 1024 * 1024, forceCloseConnections: true });

  app.setErrorHandler((err: { statusCode?: number; message: string }, request, reply) => {
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
    if (request.url.startsWith("/v1/chat/completions")) record(status, "", "");
    reply
      .code(status)
      .send(openAIError(err.message, status < 500 ? "invalid_request_error" : "server_error"));
  });

  app.setNotFoundHandler((request, reply) => {
    reply
      .code(404)
      .send(openAIError(`Unknown request URL: ${request.method} ${request.url}`, "invalid_request_error"));
  });

  app.get("/v1/models", async () => ({
    object: "list",
    data: MODELS.map((id) => ({ id, object: "model", created: 0, owned_by: "agentbatch-mock" })),
  }));

  app.get("/_mock/log", async () => log);

  app.get("/_mock/stats", async () => ({ total: log.length, byStatus: countsByStatus }));

  app.post("/v1/chat/completions", async (request, reply) => {
    const body = (request.body ?? {}) as CompletionBody;
    const model = typeof body.model === "string" ? body.model : "";
    const invalid = validateCompletionBody(body);
    if (invalid) {
      record(400, model, "");
      return reply.code(400).send(openAIError(invalid.message, "invalid_request_error", invalid.param));
    }
    const messages = toChatMessages(body.messages as OpenAIMessage[]);
    const userText = lastUserText(messages);
    const answer = simulateReply(messages);
    const totalTokens = answer.promptTokens + answer.completionTokens;

    const refused = admit(totalTokens);
    if (refused) {
      record(429, model, userText);
      const waitMs = Math.max(1, Math.ceil(refused.waitMs));
      return reply
        .code(429)
        .headers(rateLimitHeaders())
        .header("retry-after", String(Math.max(1, Math.ceil(waitMs / 1000))))
        .header("retry-after-ms", String(waitMs))
        .send(
          openAIError(
            `Rate limit reached for ${model} on ${refused.limit} per min. Please try again in ${formatDuration(waitMs)}.`,
            refused.limit,
            null,
            "rate_limit_exceeded",
          ),
        );
    }
    const limitHeaders = rateLimitHeaders();

    if (errorRate > 0 && Math.random() < errorRate) {
      if (latencyMs > 0) await delay(latencyMs);
      record(500, model, userText);
      return reply.code(500).send({ error: { message: "injected fault", type: "server_error" } });
    }

    const id = `chatcmpl-mock${++completionSeq}`;
    const created = Math.floor(Date.now() / 1000);
    const usage = {
      prompt_tokens: answer.promptTokens,
      completion_tokens: answer.completionTokens,
      total_tokens: totalTokens,
    };
    if (body.stream === true) {
      record(200, model, userText);
      const includeUsage = body.stream_options?.include_usage === true;
      await streamCompletion(reply, limitHeaders, {
        id,
        created,
        model,
        text: answer.text,
        usage,
        includeUsage,
      });
      return reply;
    }
    if (latencyMs > 0) await delay(latencyMs);
    record(200, model, userText);
    return reply.headers(limitHeaders).send({
      id,
      object: "chat.completion",
      created,
      model,
      choices: [{ index: 0, message: { role: "assistant", content: answer.text }, finish_reason: "stop" }],
      usage,
    });
  });

  /** OpenAI's SSE stream: role and content chunks over the latency, finish, usage, [DONE]. */
  async function streamCompletion(
    reply: FastifyReply,
    headers: Record<string, string>,
    c: {
      id: string;
      created: number;
      model: string;
      text: string;
      usage: Record<string, number>;
      includeUsage: boolean;
    },
  ): Promise<void> {
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { ...headers, "content-type": "text/event-stream", "cache-control": "no-cache" });
    const event = (choices: unknown[], extra?: Record<string, unknown>) =>
      `data: ${JSON.stringify({ id: c.id, object: "chat.completion.chunk", created: c.created, model: c.model, choices, ...extra })}\n\n`;
    const chunks = splitForStreaming(c.text);
    const contentEvents = chunks.map((content, i) =>
      event([
        { index: 0, delta: i === 0 ? { role: "assistant", content } : { content }, finish_reason: null },
      ]),
    );
    let tail = event([{ index: 0, delta: {}, finish_reason: "stop" }]);
    if (c.includeUsage) tail += event([], { usage: c.usage });
    tail += "data: [DONE]\n\n";

    if (latencyMs <= 0) {
      raw.end(contentEvents.join("") + tail);
      return;
    }
    const step = latencyMs / Math.max(1, contentEvents.length);
    for (const content of contentEvents) {
      await delay(step);
      if (raw.destroyed) return;
      raw.write(content);
    }
    raw.end(tail);
  }

  const bucketState = (b: MinuteBucket | undefined) =>
    b ? { limit: b.capacity, remaining: b.remaining(), resetMs: b.msUntilFull() } : undefined;
  registerAnthropicMessages(app, {
    latencyMs,
    errorRate,
    admit,
    record,
    limits: () => ({ requests: bucketState(requestBucket), tokens: bucketState(tokenBucket) }),
  });

  const host = opts.host ?? "127.0.0.1";
  await app.listen({ port: opts.port ?? 0, host });
  const port = (app.server.address() as AddressInfo).port;
  const url = `${reachableOrigin(host, port)}/v1`;

  return {
    url,
    port,
    log,
    async close() {
      await app.close();
      if (logStream) await new Promise<void>((resolve) => logStream.end(resolve));
    },
  };
}

function validateCompletionBody(body: CompletionBody): { message: string; param: string } | undefined {
  if (typeof body.model !== "string" || body.model === "") {
    return { message: "you must provide a model parameter", param: "model" };
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    return { message: "'messages' must be a non-empty array", param: "messages" };
  }
  for (let i = 0; i < body.messages.length; i++) {
    const message = body.messages[i] as OpenAIMessage | null;
    if (typeof message !== "object" || message === null || typeof message.role !== "string") {
      return { message: `'messages.${i}' must be an object with a role`, param: `messages.${i}` };
    }
    const content = message.content;
    if (content !== undefined && content !== null && typeof content !== "string" && !Array.isArray(content)) {
      return {
        message: `'messages.${i}.content' must be a string or an array`,
        param: `messages.${i}.content`,
      };
    }
  }
  return undefined;
}

/** OpenAI's content parts in the simulator's terms; only their text matters to the echo. */
function toChatMessages(messages: OpenAIMessage[]): ChatMessage[] {
  const out: ChatMessage[] = new Array(messages.length);
  for (let i = 0; i < messages.length; i++) {
    const { role, content } = messages[i];
    out[i] = { role: role as ChatMessage["role"], content: toContent(content) };
  }
  return out;
}

function toContent(content: unknown): string | ContentPart[] {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.map((part: { type?: unknown; text?: unknown }): ContentPart => {
    if (part?.type === "text") return { type: "text", text: typeof part.text === "string" ? part.text : "" };
    if (part?.type === "image_url") return { type: "image", mediaType: "", dataBase64: "" };
    return { type: "text", text: `[${String(part?.type)}]` };
  });
}

function openAIError(
  message: string,
  type: string,
  param: string | null = null,
  code: string | null = null,
): { error: { message: string; type: string; param: string | null; code: string | null } } {
  return { error: { message, type, param, code } };
}

/** OpenAI's reset format: "20ms", "1.5s", "6m0s", "1h2m3s". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  let rest = Math.ceil(ms) / 1000;
  const hours = Math.floor(rest / 3600);
  rest -= hours * 3600;
  const minutes = Math.floor(rest / 60);
  const seconds = Number((rest - minutes * 60).toFixed(3));
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A URL clients can reach: a wildcard bind address is reached through loopback. */
function reachableOrigin(host: string, port: number): string {
  if (host === "0.0.0.0" || host === "::") return `http://127.0.0.1:${port}`;
  return host.includes(":") ? `http://[${host}]:${port}` : `http://${host}:${port}`;
}
