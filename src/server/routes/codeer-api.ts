import type { FastifyRequest } from "fastify";
import type { ApiPlugin } from "../api-plugin.js";
import { keyFromHeaders, workspaceOf } from "../auth.js";
import { errorHandlerFor } from "../error-layer/handlers.js";
import { missingKey } from "../errors.js";
import { agentToolRoutes } from "./agent-tools.js";
import { agentRoutes } from "./agents.js";
import { batchControlRoutes } from "./batch-control.js";
import { batchFileRoutes } from "./batch-files.js";
import { batchProgressRoutes } from "./batch-progress.js";
import { batchRoutes } from "./batches.js";
import { chatFileRoutes } from "./chat-files.js";
import { chatMessageRoutes } from "./chat-messages.js";
import { chatToolOutputRoutes } from "./chat-tool-outputs.js";
import { chatRoutes } from "./chats.js";
import { webhookRoutes } from "./webhooks.js";
import { whitelistRoutes } from "./whitelist.js";

const RESOURCES = [
  batchRoutes,
  batchControlRoutes,
  batchProgressRoutes,
  batchFileRoutes,
  agentRoutes,
  agentToolRoutes,
  chatRoutes,
  chatMessageRoutes,
  chatToolOutputRoutes,
  chatFileRoutes,
  webhookRoutes,
  whitelistRoutes,
];

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

/**
 * The Codeer Batch and Chat APIs (register under `/api/v1`): every route authenticated by an API
 * key and every error in the Codeer envelope.
 */
export const codeerApi: ApiPlugin = async (app, { ctx }) => {
  app.setErrorHandler(errorHandlerFor("codeer"));
  app.addHook("onRequest", async (request) => {
    const key = keyFromHeaders(request.headers) ?? streamQueryKey(request);
    request.workspace = await workspaceOf(ctx.keys, key, { missing: missingKey, invalid: missingKey });
  });
  for (const routes of RESOURCES) await app.register(routes, { ctx });
};
