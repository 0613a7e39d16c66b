import multipart from "@fastify/multipart";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Ajv } from "ajv";
import addFormatsModule from "ajv-formats";
import Fastify, { type FastifyBaseLogger, LogController } from "fastify";
import type { Logger } from "pino";
import { VERSION } from "../domain/version.js";
import type { Workspace } from "../store/types.js";
import type { ApiInstance } from "./api-plugin.js";
import { anthropicBatchApi } from "./batch-apis/anthropic-routes.js";
import { BetaQuery } from "./batch-apis/anthropic-schemas.js";
import { openAIBatchApi } from "./batch-apis/openai-routes.js";
import type { AppContext } from "./context.js";
import { registerDashboard, sendDashboardFallback } from "./dashboard.js";
import { shapeOfUrl } from "./error-layer/formats.js";
import { errorHandlerFor, frameworkErrorHandler, sendRouteNotFound } from "./error-layer/handlers.js";
import { acceptEmptyJsonBodies, MAX_PATH_PARAM_CHARS, refuseOtherMediaTypes } from "./request-parsing.js";
import { codeerApi } from "./routes/codeer-api.js";
import { NoQuery } from "./schemas/common.js";
import { websocketPlugin } from "./websocket.js";

export type App = ApiInstance;

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

/**
 * An API route that declares no query takes none (the Anthropic shape only the SDK's `beta`), so
 * an unknown query parameter is a 400 naming it on every route, never silently ignored.
 */
function declareQueries(app: App): void {
  app.addHook("onRoute", (route) => {
    if (!route.url.startsWith("/api/v1/") && !route.url.startsWith("/v1/")) return;
    if (route.schema?.querystring) return;
    const querystring = shapeOfUrl(route.url) === "anthropic" ? BetaQuery : NoQuery;
    route.schema = { ...route.schema, querystring };
  });
}

/** /openapi.json and /docs, generated from the routes' schemas. */
async function registerOpenApi(app: App): Promise<void> {
  await app.register(swagger, {
    openapi: {
      info: {
        title: "agentbatch",
        version: VERSION,
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
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
}

/** /healthz and /metrics: unauthenticated, counts only, no workspace data. */
function registerServiceRoutes(app: App, ctx: AppContext): void {
  app.get("/healthz", { schema: { hide: true } }, async () => ({ status: "ok" }));
  const metrics = ctx.metrics;
  if (!metrics) return;
  app.get("/metrics", { schema: { hide: true } }, async (_request, reply) =>
    reply.type(metrics.contentType).send(await metrics.render()),
  );
}

/**
 * The HTTP app: the Codeer API under `/api/v1`, the OpenAI and Anthropic batch API shapes under
 * `/v1` (each a plugin with its own authentication and error shape), the OpenAPI document, the
 * dashboard and the service endpoints.
 */
export async function buildApp(ctx: AppContext, logger: Logger): Promise<App> {
  const fastify = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: ctx.config.bodyLimitBytes,
    // One debug line per request (below); Fastify's own two info lines per request are noise at scale.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: true,
    routerOptions: { maxParamLength: MAX_PATH_PARAM_CHARS },
    frameworkErrors: frameworkErrorHandler,
  });
  acceptEmptyJsonBodies(fastify);
  refuseOtherMediaTypes(fastify);
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validators());
  declareQueries(app);
  app.setErrorHandler(errorHandlerFor("codeer"));
  app.setNotFoundHandler((request, reply) => {
    if (!sendDashboardFallback(request, reply)) sendRouteNotFound(request, reply);
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

  await registerOpenApi(app);
  // Multipart uploads are streamed by the routes (files/storage.ts); these limits bound the parts.
  await app.register(multipart, { limits: { fileSize: ctx.config.maxUploadBytes, files: 1, fields: 20 } });
  // Batch progress over WebSocket (routes/batch-progress.ts).
  await app.register(websocketPlugin);
  registerServiceRoutes(app, ctx);
  await registerDashboard(app);

  await app.register(codeerApi, { prefix: "/api/v1", ctx });
  await app.register(openAIBatchApi, { prefix: "/v1", ctx });
  await app.register(anthropicBatchApi, { prefix: "/v1", ctx });
  return app;
}
