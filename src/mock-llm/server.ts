import type { AddressInfo } from "node:net";
import Fastify, { type FastifyInstance } from "fastify";
import { registerAnthropicMessages } from "./anthropic-messages.js";
import { registerEmbeddings } from "./embeddings.js";
import { MockLimits } from "./limits.js";
import { openAIError, registerOpenAIChat } from "./openai-chat.js";
import { MockRequestLog, type MockRequestLogEntry } from "./request-log.js";
import { registerResponses } from "./responses.js";
import type { MockRouteDeps } from "./route-support.js";

export type { MockRequestLogEntry } from "./request-log.js";

export interface MockLlmOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  /** Time before answering; a stream spreads its chunks over it. */
  latencyMs?: number;
  /**
   * Each answer's time drawn uniformly within ±this many ms of `latencyMs`, so at most
   * `latencyMs` (a RangeError otherwise: a wider spread would clamp draws at 0 and raise the
   * mean); default 0, every answer after the same time.
   */
  latencyJitterMs?: number;
  /** Requests per minute before answering 429. */
  rpm?: number;
  /** Tokens (prompt + completion) per minute before answering 429. */
  tpm?: number;
  /** Share of requests, 0 to 1, answered with an injected 500. */
  errorRate?: number;
  /** Appends one JSON line per request to this file. */
  logFile?: string;
  /** Keeps every request body in `requests` (for tests that look at what reached the wire). */
  captureBodies?: boolean;
  /**
   * Prompt tokens each chat completion reports as served from the prompt cache
   * (`usage.prompt_tokens_details.cached_tokens`, at most its prompt tokens); default none.
   */
  cachedPromptTokens?: number;
  /**
   * The listen socket's accept queue (Node's default 511; the kernel caps it at
   * net.core.somaxconn). Thousands of clients connecting at once overflow a short one, and the
   * kernel drops their handshakes, to be retried after 1 s, 3 s… (bench/README.md, "Issue 17.3,
   * the first round").
   */
  backlog?: number;
}

/** One request as it arrived, kept with `captureBodies`. */
export interface CapturedRequest {
  path: string;
  body: unknown;
}

export interface MockLlm {
  /** The OpenAI base URL, e.g. `http://127.0.0.1:PORT/v1`. */
  url: string;
  port: number;
  /** Every model request so far (chat, messages, embeddings, responses), in arrival order. */
  log: MockRequestLogEntry[];
  /** Request bodies in arrival order; empty unless `captureBodies`. */
  requests: CapturedRequest[];
  close(): Promise<void>;
}

const MODELS = ["mock-model", "gpt-4o-mini", "echo", "text-embedding-3-small"];

/** An OpenAI-compatible upstream for the demo, tests and benchmarks; see README.md. */
export async function startMockLlm(opts: MockLlmOptions = {}): Promise<MockLlm> {
  if ((opts.latencyJitterMs ?? 0) > (opts.latencyMs ?? 0)) {
    throw new RangeError(
      `latencyJitterMs (${opts.latencyJitterMs}) must not exceed latencyMs (${opts.latencyMs ?? 0})`,
    );
  }
  const deps: MockRouteDeps = {
    latencyMs: opts.latencyMs ?? 0,
    latencyJitterMs: opts.latencyJitterMs ?? 0,
    errorRate: opts.errorRate ?? 0,
    limits: new MockLimits(opts.rpm, opts.tpm),
    log: new MockRequestLog(opts.logFile),
    cachedPromptTokens: opts.cachedPromptTokens ?? 0,
  };
  const requests: CapturedRequest[] = [];
  if (opts.captureBodies) deps.capture = (path, body) => requests.push({ path, body });
  const app = Fastify({ logger: false, bodyLimit: 50 * 1024 * 1024, forceCloseConnections: true });
  registerErrorHandlers(app, deps.log);
  registerMockRoutes(app, deps.log);
  registerOpenAIChat(app, deps);
  registerAnthropicMessages(app, deps);
  registerEmbeddings(app, deps);
  registerResponses(app, deps);

  const host = opts.host ?? "127.0.0.1";
  await app.listen({
    port: opts.port ?? 0,
    host,
    ...(opts.backlog === undefined ? {} : { backlog: opts.backlog }),
  });
  const port = (app.server.address() as AddressInfo).port;
  return {
    url: `${reachableOrigin(host, port)}/v1`,
    port,
    log: deps.log.entries,
    requests,
    async close() {
      await app.close();
      await deps.log.close();
    },
  };
}

const MODEL_ROUTES = ["/v1/chat/completions", "/v1/messages", "/v1/embeddings", "/v1/responses"];

/** Errors and unknown routes in OpenAI's error shape; a chat request that failed is still logged. */
function registerErrorHandlers(app: FastifyInstance, log: MockRequestLog): void {
  app.setErrorHandler((err: { statusCode?: number; message: string }, request, reply) => {
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
    if (MODEL_ROUTES.some((route) => request.url.startsWith(route))) log.record(status, "", "");
    reply
      .code(status)
      .send(openAIError(err.message, status < 500 ? "invalid_request_error" : "server_error"));
  });
  app.setNotFoundHandler((request, reply) => {
    reply
      .code(404)
      .send(openAIError(`Unknown request URL: ${request.method} ${request.url}`, "invalid_request_error"));
  });
}

/** The model list, and the request log for tests and benchmarks (`/_mock/log`, `/_mock/stats`). */
function registerMockRoutes(app: FastifyInstance, log: MockRequestLog): void {
  app.get("/v1/models", async () => ({
    object: "list",
    data: MODELS.map((id) => ({ id, object: "model", created: 0, owned_by: "agentbatch-mock" })),
  }));
  app.get("/_mock/log", async () => log.entries);
  app.get("/_mock/stats", async () => log.stats());
}

/** A URL clients can reach: a wildcard bind address is reached through loopback. */
function reachableOrigin(host: string, port: number): string {
  if (host === "0.0.0.0" || host === "::") return `http://127.0.0.1:${port}`;
  return host.includes(":") ? `http://[${host}]:${port}` : `http://${host}:${port}`;
}
