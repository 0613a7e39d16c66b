/**
 * The error layer as Fastify sees it: each API plugin sets `errorHandlerFor(its shape)`; errors
 * Fastify raises before routing (`frameworkErrors`) and requests no route matches are answered
 * in the shape of the API their URL belongs to.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { classifyError, type ErrorDescription, routeNotFound } from "./classify.js";
import { type ApiShape, ERROR_FORMATS, shapeOfUrl } from "./formats.js";

function sendError(
  shape: ApiShape,
  d: ErrorDescription,
  request: FastifyRequest,
  reply: FastifyReply,
  cause?: unknown,
) {
  if (d.unexpected) request.log.error({ err: cause }, "unhandled error");
  return reply.code(d.status).headers(d.headers).send(ERROR_FORMATS[shape](d));
}

/** The error handler of one API shape: nothing reaches a client as a bare 500 stack. */
export function errorHandlerFor(shape: ApiShape) {
  return (err: FastifyError, request: FastifyRequest, reply: FastifyReply) =>
    sendError(shape, classifyError(err, request), request, reply, err);
}

/** Fastify's `frameworkErrors` option: a malformed URL, a path parameter over the length limit. */
export function frameworkErrorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  return sendError(shapeOfUrl(request.url), classifyError(err, request), request, reply, err);
}

/** A request no route matches. */
export function sendRouteNotFound(request: FastifyRequest, reply: FastifyReply) {
  return sendError(shapeOfUrl(request.url), routeNotFound(request.method, request.url), request, reply);
}
