/**
 * How requests are read before any route sees them: the router's bound on path parameters and
 * the JSON body parser.
 */
import { errorCodes, type FastifyInstance } from "fastify";

/**
 * The longest path parameter the router accepts (decoded), answered 414 beyond it. Every id the
 * API hands out fits with room to spare: client-chosen batch ids are at most 128 characters,
 * custom_ids 256 (512 in the OpenAI shape).
 */
export const MAX_PATH_PARAM_CHARS = 1024;

/** Whether a request says it has no body (`Content-Length: 0`, or neither length nor chunks). */
function hasNoBody(headers: Record<string, string | string[] | undefined>): boolean {
  const length = headers["content-length"];
  return length === "0" || (length === undefined && headers["transfer-encoding"] === undefined);
}

/**
 * Bodies of any other type than JSON and multipart (text/plain included, which Fastify would
 * hand the routes as a string): an empty one is no body, so a bodyless POST (cancel, pause...)
 * may carry any content type; any other is a 415 naming the type (error-layer/classify.ts),
 * never read.
 */
export function refuseOtherMediaTypes(app: FastifyInstance): void {
  app.removeContentTypeParser("text/plain");
  app.addContentTypeParser("*", (request, _payload, done) => {
    if (hasNoBody(request.headers)) done(null, undefined);
    else done(new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE(), undefined);
  });
}

/**
 * application/json as Fastify parses it, except that an empty body is no body: a bodyless POST
 * (cancel, pause, publish...) sent with `Content-Type: application/json` is accepted, and a route
 * whose schema needs a body still answers 400 naming it (error-layer/classify.ts).
 */
export function acceptEmptyJsonBodies(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    const text = body as string;
    if (text === "") done(null, undefined);
    else parseJson(request, text, done);
  });
}
