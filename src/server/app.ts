import type { IncomingMessage, ServerResponse } from "node:http";
import multipart from "@fastify/multipart";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Ajv, type ErrorObject } from "ajv";
import addFormatsModule from "ajv-formats";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
  type RawServerDefault,
} from "fastify";
import type { Logger } from "pino";
import type { Workspace } from "../store/types.js";
import { keyFromHeaders } from "./auth.js";
import { anthropicBatchApi } from "./batch-apis/anthropic-routes.js";
import { openAIBatchApi } from "./batch-apis/openai-routes.js";
import type { AppContext } from "./context.js";
import { registerDashboard, sendDashboardFallback } from "./dashboard.js";
import { ApiError, ErrorCodes, isMalformedUpload, missingKey } from "./errors.js";
import { agentRoutes } from "./routes/agents.js";
import { batchControlRoutes } from "./routes/batch-control.js";
import { batchFileRoutes } from "./routes/batch-files.js";
import { batchProgressRoutes } from "./routes/batch-progress.js";
import { batchRoutes } from "./routes/batches.js";
import { chatRoutes } from "./routes/chats.js";
import { webhookRoutes } from "./routes/webhooks.js";
import { whitelistRoutes } from "./routes/whitelist.js";
import { websocketPlugin } from "./websocket.js";

declare module "fastify" {
  interface FastifyRequest {
    workspace: Workspace;
  }
}

export type App = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/**
 * Two validators: bodies are validated strictly (a number where a string belongs is a 400, not
 * silently converted), query strings and path parameters are coerced since they arrive as text.
 */
function validators() {
  const common = { allErrors: false, useDefaults: true, removeAdditional: false as const, strict: false };
  const body = addFormats(new Ajv({ ...common, coerceTypes: false }));
  const text = addFormats(new Ajv({ ...common, coerceTypes: "array" as const }));
  return ({ schema, httpPart }: { schema: object; httpPart?: string }) =>
    (httpPart === "body" ? body : text).compile(schema);
}

/** `/requests/3/custom_id` → `requests[3].custom_id`. */
export function fieldPath(instancePath: string, missing?: string): string {
  const parts = instancePath.split("/").filter(Boolean);
  if (missing) parts.push(missing);
  let out = "";
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out ? `.${p}` : p;
  return out;
}

function validationMessage(errors: ErrorObject[], context: string): string {
  const e = errors[0];
  const missing =
    e.keyword === "required" ? (e.params as { missingProperty: string }).missingProperty : undefined;
  const path = fieldPath(e.instancePath, missing);
  if (missing) return `${path} is required`;
  if (e.keyword === "enum") {
    return `${path || context}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(", ")}`;
  }
  if (!path) return `${context === "body" ? "request body" : context} ${e.message}`;
  return `${path}: ${e.message}`;
}

/** Maps every error to the envelope; nothing reaches a client as a bare 500 stack. */
function errorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const send = (status: number, code: number, message: string, headers: Record<string, string> = {}) =>
    reply.code(status).headers(headers).send({ data: null, message, error_code: code });
  if (err instanceof ApiError) return send(err.statusCode, err.errorCode, err.message, err.headers);
  if (err.validation) {
    return send(
      400,
      ErrorCodes.BAD_REQUEST,
      validationMessage(err.validation as ErrorObject[], err.validationContext ?? "body"),
    );
  }
  switch (err.code) {
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return send(400, ErrorCodes.BAD_REQUEST, `Malformed JSON body: ${err.message}`);
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return send(400, ErrorCodes.BAD_REQUEST, "The request body is empty; send a JSON object");
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return send(
        413,
        ErrorCodes.BAD_REQUEST,
        `The request body is larger than the limit of ${request.routeOptions.bodyLimit ?? "the server"} bytes`,
      );
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return send(415, ErrorCodes.BAD_REQUEST, "Unsupported Content-Type; send application/json");
  }
  if (isMalformedUpload(err))
    return send(400, ErrorCodes.BAD_REQUEST, `Malformed multipart body: ${err.message}`);
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return send(err.statusCode, ErrorCodes.BAD_REQUEST, err.message);
  }
  request.log.error({ err }, "unhandled error");
  return send(500, ErrorCodes.SERVER_ERROR, "Internal server error");
}

/**
 * `?api_key=` for the progress streams only (a browser's WebSocket and EventSource cannot send
 * headers); every other route takes the key from a header, so keys stay out of URLs.
 */
const STREAM_ROUTES = new Set(["/api/v1/batches/:id/events", "/api/v1/batches/:id/ws"]);

function streamQueryKey(request: FastifyRequest): string | undefined {
  if (!STREAM_ROUTES.has(request.routeOptions.url ?? "")) return undefined;
  const key = (request.query as Record<string, unknown> | undefined)?.api_key;
  return typeof key === "string" && key.length > 0 ? key : undefined;
}

export async function buildApp(ctx: AppContext, logger: Logger): Promise<App> {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: ctx.config.bodyLimitBytes,
    // One debug line per request (below); Fastify's own two info lines per request are noise at scale.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: true,
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validators());
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => {
    if (sendDashboardFallback(request, reply)) return;
    reply.code(404).send({
      data: null,
      message: `Route ${request.method} ${request.url.split("?")[0]} not found`,
      error_code: ErrorCodes.NOT_FOUND,
    });
  });
  app.decorateRequest("workspace", null as unknown as Workspace);
  app.addHook("onResponse", async (request, reply) => {
    request.log.debug(
      {
        method: request.method,
        url: request.url.split("?")[0],
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      "request",
    );
  });

  await app.register(swagger, {
    openapi: {
      info: {
        title: "agentbatch",
        version: "0.1.0",
        description:
          "Self-hosted Batch API for AI agents, wire-compatible with the Codeer Batch and Chat APIs.",
      },
      components: {
        securitySchemes: { apiKey: { type: "apiKey", in: "header", name: "x-api-key" } },
      },
      security: [{ apiKey: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: "/docs" });
  // Multipart uploads are streamed by the routes (files/storage.ts); these limits bound the parts.
  await app.register(multipart, { limits: { fileSize: ctx.config.maxUploadBytes, files: 1, fields: 20 } });
  // Batch progress over WebSocket (routes/batch-progress.ts).
  await app.register(websocketPlugin);

  app.get("/healthz", { schema: { hide: true } }, async () => ({ status: "ok" }));
  const metrics = ctx.metrics;
  if (metrics) {
    // Unauthenticated like /healthz: counts only, no workspace data, for Prometheus to scrape.
    app.get("/metrics", { schema: { hide: true } }, async (_request, reply) =>
      reply.type(metrics.contentType).send(await metrics.render()),
    );
  }
  await registerDashboard(app);
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

  await app.register(
    async (api) => {
      api.addHook("onRequest", async (request) => {
        const key = keyFromHeaders(request.headers) ?? streamQueryKey(request);
        if (!key) throw missingKey();
        const ws = await ctx.keys.resolve(key);
        if (!ws) throw missingKey();
        request.workspace = ws;
      });
      await batchRoutes(api, ctx);
      await batchControlRoutes(api, ctx);
      await batchProgressRoutes(api, ctx);
      await batchFileRoutes(api, ctx);
      await agentRoutes(api, ctx);
      await chatRoutes(api, ctx);
      await webhookRoutes(api, ctx);
      await whitelistRoutes(api, ctx);
    },
    { prefix: "/api/v1" },
  );
  // The OpenAI and Anthropic batch API shapes, each with its own auth and error shape (batch-apis/).
  await app.register(async (v1) => openAIBatchApi(v1, ctx), { prefix: "/v1" });
  await app.register(async (v1) => anthropicBatchApi(v1, ctx), { prefix: "/v1" });
  return app;
}
