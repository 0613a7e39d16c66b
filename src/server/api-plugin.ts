/**
 * The types every route module is written against, kept in this leaf module so that no route
 * imports app.ts back: a route module exports an `ApiPlugin` that app.ts (or an API's plugin)
 * registers with `{ ctx }`. Handlers written as named functions take an `ApiRequest` /
 * `ApiReply` of their route's schema, typed as the TypeBox type provider infers them.
 */
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type {
  ContextConfigDefault,
  FastifyReply,
  FastifyRequest,
  FastifySchema,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
  RouteGenericInterface,
} from "fastify";
import type { AppContext } from "./context.js";

export interface ApiPluginOptions {
  ctx: AppContext;
}

/** A group of routes (or a whole API shape) registered as a Fastify plugin. */
export type ApiPlugin = FastifyPluginAsyncTypebox<ApiPluginOptions>;

/** The Fastify instance a plugin registers its routes on. */
export type ApiInstance = Parameters<ApiPlugin>[0];

export type ApiRequest<S extends FastifySchema> = FastifyRequest<
  RouteGenericInterface,
  RawServerDefault,
  RawRequestDefaultExpression,
  S,
  TypeBoxTypeProvider
>;

export type ApiReply<S extends FastifySchema> = FastifyReply<
  RouteGenericInterface,
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  ContextConfigDefault,
  S,
  TypeBoxTypeProvider
>;
