import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

/**
 * The built dashboard (src/web → `vite build` → dist/web). Resolved from this module, so that it
 * is found both from dist/server (the installed package) and from src/server (tests run on source).
 */
export const DASHBOARD_DIR = fileURLToPath(new URL("../../dist/web/", import.meta.url));

/** Paths the dashboard never answers, so that an unknown API path still gets the JSON 404. */
const RESERVED = ["/api/", "/v1/", "/docs", "/openapi.json", "/healthz", "/metrics"];

/**
 * Serves the dashboard's static files at `/`. Only files that exist at start are routed
 * (`wildcard: false`), so the API's routes and its 404s are never shadowed. Hashed assets are
 * cached for a year; index.html is revalidated so that a rebuild shows at once.
 */
export async function registerDashboard(app: FastifyInstance): Promise<void> {
  if (!existsSync(`${DASHBOARD_DIR}index.html`)) {
    app.log.warn({ dir: DASHBOARD_DIR }, "dashboard not built (run npm run build); serving the API only");
    return;
  }
  await app.register(fastifyStatic, {
    root: DASHBOARD_DIR,
    prefix: "/",
    wildcard: false,
    index: ["index.html"],
    cacheControl: false,
    setHeaders: (res, path) => {
      res.setHeader(
        "cache-control",
        path.includes("/assets/") ? "public, max-age=31536000, immutable" : "no-cache",
      );
    },
  });
}

/**
 * The single-page app's fallback: a browser asking for a dashboard path (`/batches/…`) gets
 * index.html, which routes on the client. Returns false when the request is not such a page.
 */
export function sendDashboardFallback(request: FastifyRequest, reply: FastifyReply): boolean {
  if (request.method !== "GET" && request.method !== "HEAD") return false;
  const path = request.url.split("?")[0];
  if (RESERVED.some((p) => path === p.replace(/\/$/, "") || path.startsWith(p))) return false;
  if (!String(request.headers.accept ?? "").includes("text/html")) return false;
  if (typeof reply.sendFile !== "function" || !existsSync(`${DASHBOARD_DIR}index.html`)) return false;
  reply.header("cache-control", "no-cache").type("text/html; charset=utf-8").sendFile("index.html");
  return true;
}
