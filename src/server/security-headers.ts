/**
 * Security headers on every response (helmet, its middleware built once): the dashboard, its assets and file
 * downloads get a Content-Security-Policy that allows only this origin's scripts, styles and
 * connections (the dashboard has no inline script or style), `frame-ancestors 'none'` (no
 * clickjacking), `X-Content-Type-Options: nosniff` (a downloaded file is never run as HTML or
 * script) and `Referrer-Policy: no-referrer`. Strict-Transport-Security is left to the TLS
 * terminator in front (agentbatch itself speaks plain HTTP). `/docs` (Swagger UI) sends its own
 * policy, with the hashes of its inline code (see app.ts).
 */
import type { FastifyInstance } from "fastify";
import helmet from "helmet";

export const CONTENT_SECURITY_POLICY = {
  defaultSrc: ["'self'"],
  baseUri: ["'self'"],
  connectSrc: ["'self'"],
  fontSrc: ["'self'", "data:"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  imgSrc: ["'self'", "data:"],
  objectSrc: ["'none'"],
  scriptSrc: ["'self'"],
  scriptSrcAttr: ["'none'"],
  styleSrc: ["'self'"],
  // No upgrade-insecure-requests: a plain-HTTP deployment (localhost) must keep loading its assets.
  upgradeInsecureRequests: null,
};

/**
 * Helmet's middleware, built once: the headers depend on nothing in the request. Not
 * @fastify/helmet (13.2), which builds the middleware again on every request (`helmet(options)`
 * in its onRequest hook, parsing the policy's directives each time): ~30 µs of a request's CPU
 * in a profile, more with the garbage it left (bench/README.md, "The API's CPU a request"). The
 * hook runs where the plugin's did (onRequest, on the raw response), so a route that sets its
 * own policy later (Swagger UI's, `docsPolicy`) still replaces it.
 */
export async function registerSecurityHeaders(app: FastifyInstance): Promise<void> {
  const setHeaders = helmet({
    contentSecurityPolicy: { useDefaults: false, directives: CONTENT_SECURITY_POLICY },
    strictTransportSecurity: false,
    referrerPolicy: { policy: "no-referrer" },
    crossOriginEmbedderPolicy: false,
  });
  app.addHook("onRequest", (request, reply, done) =>
    setHeaders(request.raw, reply.raw, (err) => done(err as Error | undefined)),
  );
}

/**
 * Swagger UI's own policy (its inline code's hashes), made as strict as the rest where it can
 * be; its components set inline styles, so `/docs` (no user data on it) allows those.
 */
export function docsPolicy(policy: string): string {
  return policy
    .replace(/frame-ancestors [^;]*;/, "frame-ancestors 'none';")
    .replace(/style-src ([^;]*);/, "style-src $1 'unsafe-inline';")
    .replace(/\s*upgrade-insecure-requests;?/, "");
}
