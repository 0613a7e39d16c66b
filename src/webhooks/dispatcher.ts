import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { rootCertificates } from "node:tls";
import type { Logger } from "pino";
import { Agent, request } from "undici";
import type { WebhookConfig } from "../config/index.js";
import { BackgroundLoop } from "../engine/loop.js";
import type { Signals } from "../engine/signals.js";
import type { DeliveryAttemptResult, Store, WebhookDelivery } from "../store/types.js";
import { checkTargetUrl, guardedLookup, TargetRefusedError } from "./guard.js";
import { nextAttemptAt } from "./retry-policy.js";
import { deliveryHeaders } from "./signing.js";

export interface DispatcherDeps {
  store: Store;
  signals: Signals;
  config: WebhookConfig;
  logger: Logger;
}

export interface DispatcherStats {
  inFlight: number;
  delivered: number;
  retried: number;
  failed: number;
}

/** Most deliveries taken in one claim. */
const CLAIM_GROUP = 50;
/** Shortest pause between two looks at the outbox. */
const MIN_SLEEP_MS = 20;
/** Most bytes of a failed response's body kept in `last_error`. */
const MAX_BODY_SNIPPET = 300;

interface Sending {
  attempt: number;
  abort: AbortController;
  done: Promise<void>;
}

/**
 * The delivery worker of one process: claims due outbox rows in groups (leased, so several
 * workers never send one row at once; fair across workspaces and target hosts, at most
 * `perHostConcurrency` in flight per host), POSTs each signed body through the guard with a timeout,
 * and records the result: 2xx delivered; anything else retried with backoff until the retry
 * window is spent; a target the guard refuses failed at once. It sleeps until a batch changes,
 * the next retry is due, or the slow poll; all its state is in the outbox, so it resumes after a
 * restart.
 */
export class WebhookDispatcher {
  readonly owner = `${hostname()}:${process.pid}:webhooks:${crypto.randomUUID().slice(0, 8)}`;
  private readonly agent: Agent;
  private readonly sending = new Map<string, Sending>();
  /** Deliveries in flight per target host, held under `config.perHostConcurrency`. */
  private readonly perHost = new Map<string, number>();
  private readonly counts = { delivered: 0, retried: 0, failed: 0 };
  private readonly loop: BackgroundLoop;
  private stopping = false;
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly deps: DispatcherDeps) {
    const { config } = deps;
    // Extra CAs are added to the system roots (setting `ca` alone would replace them).
    const ca = config.caFile ? [...rootCertificates, readFileSync(config.caFile, "utf8")] : undefined;
    this.agent = new Agent({
      connect: { lookup: guardedLookup(config), ...(ca ? { ca } : {}) },
      headersTimeout: config.timeoutMs,
      bodyTimeout: config.timeoutMs,
    });
    this.loop = new BackgroundLoop({
      iteration: () => this.claimDue(),
      intervalMs: config.pollIntervalMs,
      // Coalesces a burst of wake-ups (every group commit signals) into one look.
      pokeDelayMs: MIN_SLEEP_MS,
      onError: (err) => deps.logger.error({ err }, "claiming webhook deliveries failed"),
    });
  }

  stats(): DispatcherStats {
    return { inFlight: this.sending.size, ...this.counts };
  }

  start(): void {
    if (this.loop.active) return;
    // Events are written with the batch changes; a change is the moment to look (not a claim's:
    // it queues none, and was most of the looks, each a statement).
    this.unsubscribe = this.deps.signals.onBatchChanged((change) => {
      if (!change.noDeliveries) this.loop.poke();
    });
    this.loop.start();
  }

  /** Stops claiming, lets sends finish for up to `graceMs`, and hands the rest back due at once. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.loop.active) return;
    this.unsubscribe?.();
    await this.loop.stop();
    const deadline = Date.now() + graceMs;
    while (this.sending.size > 0 && Date.now() < deadline) await Promise.race([...this.all(), delay(50)]);
    this.stopping = true;
    for (const s of this.sending.values()) s.abort.abort();
    await Promise.all(this.all());
    await this.agent.close();
  }

  private all(): Promise<void>[] {
    return [...this.sending.values()].map((s) => s.done);
  }

  /**
   * One look at the outbox; resolves to how long to sleep before the next (0: at once). Claims
   * are fair (round-robin across workspace and target host) and skip the hosts already at their
   * cap, so a target that never answers holds at most its cap of slots and delays only itself.
   */
  private async claimDue(): Promise<number> {
    const { store, config } = this.deps;
    // A claim outlives any attempt; a sender that dies leaves its rows due again after it.
    const leaseMs = config.timeoutMs + 30_000;
    const want = Math.min(config.concurrency - this.sending.size, CLAIM_GROUP);
    const skipHosts = this.fullHosts();
    // With every slot busy, a finished send wakes the loop. Otherwise a cheap read of the due
    // index comes first: most batch changes queue no event, and need no write.
    let next = want > 0 ? await store.outbox.nextDueAt(skipHosts) : null;
    if (next !== null && next <= Date.now()) {
      const fair = { perTarget: Math.max(1, config.perHostConcurrency), skipHosts };
      const claimed = await store.outbox.claimDue(this.owner, want, leaseMs, Date.now(), fair);
      const excess: { id: string; attempt: number }[] = [];
      for (const d of claimed) {
        // Several workspaces' groups may target one host: beyond its cap, hand back at once.
        if ((this.perHost.get(d.targetHost) ?? 0) >= config.perHostConcurrency) {
          excess.push({ id: d.id, attempt: d.attempts });
        } else this.begin(d);
      }
      if (excess.length > 0) await store.outbox.release(this.owner, excess, Date.now());
      if (claimed.length === want && excess.length === 0) return 0;
      next = await store.outbox.nextDueAt(this.fullHosts());
    }
    if (next === null) return config.pollIntervalMs;
    return Math.min(config.pollIntervalMs, Math.max(MIN_SLEEP_MS, next - Date.now()));
  }

  /** Hosts this process already sends its cap of deliveries to. */
  private fullHosts(): string[] {
    const cap = this.deps.config.perHostConcurrency;
    return [...this.perHost].filter(([, count]) => count >= cap).map(([host]) => host);
  }

  private begin(d: WebhookDelivery): void {
    const abort = new AbortController();
    const host = d.targetHost;
    const sending: Sending = { attempt: d.attempts, abort, done: Promise.resolve() };
    this.perHost.set(host, (this.perHost.get(host) ?? 0) + 1);
    sending.done = this.deliver(d, abort.signal)
      .catch((err) => this.deps.logger.error({ err, delivery_id: d.id }, "webhook delivery crashed"))
      .finally(() => {
        this.sending.delete(d.id);
        const left = (this.perHost.get(host) ?? 1) - 1;
        if (left > 0) this.perHost.set(host, left);
        else this.perHost.delete(host);
        this.loop.poke();
      });
    this.sending.set(d.id, sending);
  }

  private async deliver(d: WebhookDelivery, stop: AbortSignal): Promise<void> {
    const outcome = await this.attempt(d, stop);
    const { store, logger, config } = this.deps;
    const now = Date.now();
    if (outcome === "aborted") {
      await store.outbox.release(this.owner, [{ id: d.id, attempt: d.attempts }], now);
      return;
    }
    let result: DeliveryAttemptResult;
    if (outcome.ok) {
      result = { kind: "delivered", statusCode: outcome.statusCode as number };
      this.counts.delivered++;
    } else if (outcome.final) {
      result = { kind: "failed", statusCode: outcome.statusCode, error: outcome.error };
    } else {
      const at = nextAttemptAt(d.attempts, now, d.retrySince, config);
      result =
        at === null
          ? {
              kind: "failed",
              statusCode: outcome.statusCode,
              error: `gave up after ${d.attempts} attempts: ${outcome.error}`,
            }
          : { kind: "retry", nextAttemptAt: at, statusCode: outcome.statusCode, error: outcome.error };
    }
    if (result.kind === "retry") this.counts.retried++;
    if (result.kind === "failed") {
      this.counts.failed++;
      logger.warn(
        { delivery_id: d.id, batch_id: d.batchId, event: d.event, error: result.error },
        "webhook delivery failed",
      );
    }
    const stored = await store.outbox.recordAttempt(d.id, this.owner, d.attempts, result, now);
    if (!stored)
      logger.info({ delivery_id: d.id }, "webhook attempt result discarded (redelivered meanwhile)");
  }

  /** One POST. Never throws: the result says whether to retry. */
  private async attempt(
    d: WebhookDelivery,
    stop: AbortSignal,
  ): Promise<{ ok: boolean; final: boolean; statusCode: number | null; error: string } | "aborted"> {
    const { config } = this.deps;
    try {
      checkTargetUrl(d.url, config);
      const res = await request(d.url, {
        method: "POST",
        headers: deliveryHeaders(d, Date.now()),
        body: d.payload,
        dispatcher: this.agent,
        signal: AbortSignal.any([stop, AbortSignal.timeout(config.timeoutMs)]),
      });
      if (res.statusCode >= 200 && res.statusCode < 300) {
        await res.body.dump();
        return { ok: true, final: false, statusCode: res.statusCode, error: "" };
      }
      const snippet = await readSnippet(res.body);
      return {
        ok: false,
        final: false,
        statusCode: res.statusCode,
        error: `HTTP ${res.statusCode}${snippet ? `: ${snippet}` : ""}`,
      };
    } catch (err) {
      if (this.stopping && stop.aborted) return "aborted";
      if (err instanceof TargetRefusedError)
        return { ok: false, final: true, statusCode: null, error: err.message };
      return { ok: false, final: false, statusCode: null, error: describeError(err, config.timeoutMs) };
    }
  }
}

async function readSnippet(body: AsyncIterable<Buffer> & { destroy(): void }): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= MAX_BODY_SNIPPET) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).toString("utf8").slice(0, MAX_BODY_SNIPPET).trim();
}

function describeError(err: unknown, timeoutMs: number): string {
  const e = err as {
    name?: string;
    code?: string;
    message?: string;
    cause?: { code?: string; message?: string };
  };
  if (
    e.name === "TimeoutError" ||
    e.code === "UND_ERR_HEADERS_TIMEOUT" ||
    e.code === "UND_ERR_BODY_TIMEOUT"
  ) {
    return `timed out after ${timeoutMs} ms`;
  }
  const code = e.code ?? e.cause?.code;
  const message = e.message ?? String(err);
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
