/**
 * Per-key request limits (@fastify/rate-limit, in-memory fixed windows): each API key (by its
 * hash, so no key is kept in memory in clear) or, without a key, each client address may send
 * `rateLimit.requestsPerMinute` requests a minute to the APIs; the next is answered 429
 * (error_code 10029 in the Codeer envelope, each batch API's own shape under `/v1`) with
 * `Retry-After`. Checked before authentication, so a flood of bad keys is limited too.
 */
import rateLimit from "@fastify/rate-limit";
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from "fastify";
import type { RateLimitConfig } from "../config/index.js";
import { hashApiKey, keyFromHeaders } from "./auth.js";
import { rateLimited } from "./errors.js";

const API_PATH = /^\/(api\/v1|v1)(\/|$|\?)/;

/** The bucket a request counts against: its key's hash, else its address. */
export function rateLimitKey(request: FastifyRequest): string {
  const key = keyFromHeaders(request.headers);
  return key ? `k:${hashApiKey(key)}` : `ip:${request.ip}`;
}

/** Registers the limiter on the root app when enabled; the hook covers the API routes only. */
export async function registerRateLimit(app: FastifyInstance, settings: RateLimitConfig): Promise<void> {
  if (!settings.enabled || settings.requestsPerMinute <= 0) return;
  await app.register(rateLimit, {
    global: false,
    max: settings.requestsPerMinute,
    timeWindow: 60_000,
    // Bounded memory: the least recently seen buckets are dropped first.
    cache: 10_000,
    keyGenerator: rateLimitKey,
    errorResponseBuilder: (_request, context) => rateLimited(Math.max(1, Math.ceil(context.ttl / 1000))),
  });
  const limit = app.rateLimit() as onRequestAsyncHookHandler;
  app.addHook("onRequest", async function (request, reply) {
    if (API_PATH.test(request.url)) await limit.call(this, request, reply);
  });
}
