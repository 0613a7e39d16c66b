/**
 * @fastify/websocket, loaded without its type declarations. Those declarations add an overload
 * to every route shorthand (`app.get(path, { websocket: true }, ...)`) that TypeScript tries
 * first, which changes how it infers the `request` of every other handler in the app (handlers
 * passing `request` on stop compiling). WebSocket routes are registered through `websocketRoute`
 * instead, typed here.
 */
import { createRequire } from "node:module";
import type { FastifyPluginAsync, FastifyRequest, FastifySchema, RouteOptions } from "fastify";
import type { ApiInstance } from "./api-plugin.js";

const require = createRequire(import.meta.url);

export const websocketPlugin = require("@fastify/websocket") as FastifyPluginAsync;

/** The part of a `ws` socket the routes use (its own typings are not a dependency). */
export interface WebSocket {
  readonly readyState: number;
  readonly OPEN: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  on(event: "close" | "message", listener: (...args: unknown[]) => void): void;
}

export interface WebsocketRoute<Params, Query> {
  url: string;
  schema: FastifySchema;
  /** Runs before the upgrade: throwing answers with a plain HTTP error. */
  preHandler?: (request: FastifyRequest<{ Params: Params; Querystring: Query }>) => Promise<void>;
  handler: (socket: WebSocket, request: FastifyRequest<{ Params: Params; Querystring: Query }>) => unknown;
}

export function websocketRoute<Params, Query>(app: ApiInstance, route: WebsocketRoute<Params, Query>): void {
  app.route({ method: "GET", websocket: true, ...route } as unknown as RouteOptions);
}
