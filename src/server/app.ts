import { createHash, timingSafeEqual } from "node:crypto";
import multipart from "@fastify/multipart";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Ajv } from "ajv";
import addFormatsModule from "ajv-formats";
import Fastify, { type FastifyBaseLogger, type FastifyRequest, LogController } from "fastify";
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
import { frameworkErrorHandler, sendRouteNotFound } from "./error-layer/handlers.js";
import { ApiError, ErrorCodes } from "./errors.js";
import { registerRateLimit } from "./rate-limit.js";
import { acceptEmptyJsonBodies, MAX_PATH_PARAM_CHARS, refuseOtherMediaTypes } from "./request-parsing.js";
import { codeerApi } from "./routes/codeer-api.js";
import { NoBody, NoQuery } from "./schemas/common.js";
import { docsPolicy, registerSecurityHeaders } from "./security-headers.js";
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
 * an unknown query parameter is a 400 naming it on every route, never silently ignored; likewise
 * a POST / PATCH / PUT / DELETE that declares no body (and is not a multipart upload) takes none,
 * or `{}`, so a field sent to it is a 400 naming it rather than dropped.
 */
function declareInputs(app: App): void {
  app.addHook("onRoute", (route) => {
    if (!route.url.startsWith("/api/v1/") && !route.url.startsWith("/v1/")) return;
    const schema = route.schema ?? {};
    const querystring = schema.querystring ?? (shapeOfUrl(route.url) === "anthropic" ? BetaQuery : NoQuery);
    const methods = [route.method].flat();
    const takesBody = methods.some((m) => m !== "GET" && m !== "HEAD" && m !== "OPTIONS");
    const multipart = (schema as { consumes?: string[] }).consumes?.includes("multipart/form-data") ?? false;
    const body = schema.body ?? (takesBody && !multipart ? NoBody : undefined);
    route.schema = { ...schema, querystring, ...(body ? { body } : {}) };
    if (!declaresHeader(schema, IDEMPOTENCY_HEADER)) {
      route.preValidation = [refuseIdempotencyKey, ...[route.preValidation ?? []].flat()];
    }
  });
}

const IDEMPOTENCY_HEADER = "idempotency-key";

function declaresHeader(schema: object, name: string): boolean {
  const headers = (schema as { headers?: { properties?: Record<string, unknown> } }).headers;
  return headers?.properties?.[name] !== undefined;
}

/**
 * An `Idempotency-Key` is honoured where a route declares it (the Codeer batch create); sent to
 * any other route it is a 400 naming it, not a retry that silently does the work twice.
 */
async function refuseIdempotencyKey(request: FastifyRequest): Promise<void> {
  if (request.headers[IDEMPOTENCY_HEADER] === undefined) return;
  throw new ApiError(
    400,
    ErrorCodes.BAD_REQUEST,
    "Idempotency-Key: not honoured by this route (only POST /api/v1/batches takes it); remove the header",
  );
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
  // Swagger UI's inline code needs its own policy (the hashes it ships), over helmet's.
  await app.register(swaggerUi, { routePrefix: "/docs", staticCSP: true, transformStaticCSP: docsPolicy });
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
}

/** /healthz and /metrics: counts only, no workspace data; /metrics behind a bearer token when configured. */
function registerServiceRoutes(app: App, ctx: AppContext): void {
  app.get("/healthz", { schema: { hide: true } }, async () => ({ status: "ok" }));
  const metrics = ctx.metrics;
  if (!metrics) return;
  const token = ctx.config.metricsToken;
  app.get("/metrics", { schema: { hide: true } }, async (request, reply) => {
    if (token && !bearerMatches(request.headers.authorization, token)) {
      throw new ApiError(
        401,
        ErrorCodes.PERMISSION_DENIED,
        "/metrics needs Authorization: Bearer <metrics token>",
        {
          "www-authenticate": 'Bearer realm="metrics"',
        },
      );
    }
    return reply.type(metrics.contentType).send(await metrics.render());
  });
}

/** Compares in constant time (digests of equal length), so the token cannot be guessed byte by byte. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer\s+(.+)$/i.exec(header?.trim() ?? "")?.[1] ?? "";
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(given), digest(token));
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
    // X-Forwarded-* only from trusted proxies (off by default); a number (hops) is accepted at
    // run time though Fastify's type leaves it out.
    trustProxy: ctx.config.trustProxy as boolean | string,
    routerOptions: { maxParamLength: MAX_PATH_PARAM_CHARS },
    frameworkErrors: frameworkErrorHandler,
  });
  acceptEmptyJsonBodies(fastify);
  refuseOtherMediaTypes(fastify);
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validators());
  declareInputs(app);
  // Errors outside the three APIs' plugins (a limit hit on an unknown route...): the URL's shape.
  app.setErrorHandler(frameworkErrorHandler);
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

  await registerSecurityHeaders(app);
  await registerOpenApi(app);
  // Multipart uploads are streamed by the routes (files/storage.ts); these limits bound the parts.
  await app.register(multipart, { limits: { fileSize: ctx.config.maxUploadBytes, files: 1, fields: 20 } });
  // Batch progress over WebSocket (routes/batch-progress.ts).
  await app.register(websocketPlugin);
  registerServiceRoutes(app, ctx);
  await registerDashboard(app);
  await registerRateLimit(app, ctx.config.rateLimit);

  await app.register(codeerApi, { prefix: "/api/v1", ctx });
  await app.register(openAIBatchApi, { prefix: "/v1", ctx });
  await app.register(anthropicBatchApi, { prefix: "/v1", ctx });
  return app;
}
