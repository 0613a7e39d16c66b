/**
 * Upstream waits are capped (issue 16, item 16): a huge Retry-After or rate-limit reset is read
 * as MAX_UPSTREAM_WAIT_MS, so no setTimeout overflows (which would fire at once, in a loop) and
 * no batch stalls for hours on one header.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { retryDelayMs } from "../../src/engine/backoff.js";
import { parseAnthropicRateLimit } from "../../src/providers/anthropic.js";
import { parseRateLimitHint, parseRetryAfterMs } from "../../src/providers/openai-compatible.js";
import { UpstreamLimiter } from "../../src/providers/rate-limiter.js";
import { MAX_UPSTREAM_WAIT_MS } from "../../src/providers/upstream-wait.js";

describe("parsed upstream waits", () => {
  it("caps Retry-After in seconds, in milliseconds and as a far date", () => {
    expect(MAX_UPSTREAM_WAIT_MS).toBe(600_000);
    expect(parseRetryAfterMs({ "retry-after": "99999999999" })).toBe(MAX_UPSTREAM_WAIT_MS);
    expect(parseRetryAfterMs({ "retry-after-ms": "1e15" })).toBe(MAX_UPSTREAM_WAIT_MS);
    expect(parseRetryAfterMs({ "retry-after": "Fri, 31 Dec 9999 23:59:59 GMT" })).toBe(MAX_UPSTREAM_WAIT_MS);
    expect(parseRetryAfterMs({ "retry-after": "2" })).toBe(2000);
  });

  it("caps OpenAI's and Anthropic's rate-limit resets", () => {
    expect(parseRateLimitHint({ "x-ratelimit-reset-requests": "9999999h" })?.resetRequestsMs).toBe(
      MAX_UPSTREAM_WAIT_MS,
    );
    expect(parseRateLimitHint({ "x-ratelimit-reset-tokens": "1e12" })?.resetTokensMs).toBe(
      MAX_UPSTREAM_WAIT_MS,
    );
    const far = parseAnthropicRateLimit({ "anthropic-ratelimit-requests-reset": "9999-12-31T00:00:00Z" });
    expect(far?.resetRequestsMs).toBe(MAX_UPSTREAM_WAIT_MS);
  });

  it("caps the engine's retry delay however large the upstream's ask", () => {
    expect(retryDelayMs(1, 1000, 60_000, 1e13)).toBe(MAX_UPSTREAM_WAIT_MS);
    expect(retryDelayMs(1, 1000, 60_000, Number.POSITIVE_INFINITY)).toBe(MAX_UPSTREAM_WAIT_MS);
  });
});

describe("the upstream limiter after a huge Retry-After", () => {
  afterEach(() => vi.useRealTimers());

  it("holds calls for the capped wait, then lets them through (no overflowed timer firing at once)", async () => {
    vi.useFakeTimers();
    const limiter = new UpstreamLimiter({}, 4);
    const first = await limiter.acquire(1, new AbortController().signal);
    first.release({
      kind: "retryable",
      code: 429,
      message: "slow down",
      rateLimited: true,
      retryAfterMs: 1e13,
    });
    let granted = false;
    const next = limiter.acquire(1, new AbortController().signal).then((p) => {
      granted = true;
      return p;
    });
    await vi.advanceTimersByTimeAsync(MAX_UPSTREAM_WAIT_MS - 1000);
    expect(granted).toBe(false);
    await vi.advanceTimersByTimeAsync(2000);
    expect(granted).toBe(true);
    (await next).release(null);
    limiter.close();
  });
});
