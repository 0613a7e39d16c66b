/**
 * Calls an http tool: POSTs `{call_id, tool, arguments, agent_id, batch_id?, custom_id?, chat_id?}`
 * signed like a webhook (both schemes, when the tool has a secret) with `Idempotency-Key: <call_id>`,
 * through the webhooks' private-network guard (origins in `tools.trusted_origins` are exempt),
 * retrying 5xx and network errors 3 times with backoff. Whatever happens, the model gets a result:
 * the response body (capped), or an error saying what went wrong.
 */
import { readFileSync } from "node:fs";
import { rootCertificates } from "node:tls";
import { Agent, request } from "undici";
import { checkTargetUrl, guardedLookup, TargetRefusedError } from "../../webhooks/guard.js";
import { deliveryHeaders } from "../../webhooks/signing.js";
import { HostLimit } from "./host-limit.js";
import {
  capOutput,
  MAX_TOOL_OUTPUT_BYTES,
  type PlannedCall,
  type ToolCallContext,
  type ToolOutput,
} from "./types.js";

export interface HttpToolOptions {
  /** Origins (`http://127.0.0.1:9000`) where http and private addresses are allowed. */
  trustedOrigins: readonly string[];
  /** The webhooks' setting: private addresses allowed everywhere. */
  allowPrivateTargets: boolean;
  concurrencyPerHost: number;
  caFile?: string;
  /** First retry delay (doubling); 250 ms by default. */
  retryBaseMs?: number;
  /** Timeout of one attempt when the tool does not set one. */
  defaultTimeoutMs?: number;
}

export interface HttpToolDef {
  name: string;
  url: string;
  secret: string | null;
  timeoutMs: number | null;
}

const RETRIES = 3;

type Attempt = { done: true; output: ToolOutput } | { done: false; error: string };

export class HttpToolCaller {
  private readonly guarded: Agent;
  private readonly trusted: Agent;
  private readonly hosts: HostLimit;

  constructor(readonly options: HttpToolOptions) {
    const ca = options.caFile ? [...rootCertificates, readFileSync(options.caFile, "utf8")] : undefined;
    const lookup = guardedLookup({ allowPrivateTargets: options.allowPrivateTargets, allowHttp: false });
    this.guarded = new Agent({ connect: { lookup, ...(ca ? { ca } : {}) } });
    this.trusted = new Agent({ connect: ca ? { ca } : {} });
    this.hosts = new HostLimit(Math.max(1, options.concurrencyPerHost));
  }

  /** The tool's result for the model; throws only when `ctx.signal` aborted. */
  async call(tool: HttpToolDef, call: PlannedCall, ctx: ToolCallContext): Promise<ToolOutput> {
    const startedAt = Date.now();
    const done = (output: string, isError: boolean): ToolOutput => ({
      output: capOutput(output),
      isError,
      durationMs: Date.now() - startedAt,
    });
    let args: unknown;
    try {
      args = JSON.parse(call.arguments);
    } catch {
      return done(`the arguments are not valid JSON: ${call.arguments.slice(0, 200)}`, true);
    }
    const payload = JSON.stringify({
      call_id: call.callId,
      tool: call.name,
      arguments: args,
      agent_id: ctx.agentId,
      ...(ctx.batchId ? { batch_id: ctx.batchId } : {}),
      ...(ctx.customId ? { custom_id: ctx.customId } : {}),
      ...(ctx.chatId ? { chat_id: ctx.chatId } : {}),
    });
    const host = new URL(tool.url).host;
    let last = "";
    for (let attempt = 0; attempt <= RETRIES; attempt++) {
      if (attempt > 0) await sleep((this.options.retryBaseMs ?? 250) * 2 ** (attempt - 1), ctx.signal);
      const result = await this.hosts.run(host, () => this.attempt(tool, call, payload, ctx.signal));
      if (result.done) return { ...result.output, durationMs: Date.now() - startedAt };
      last = result.error;
    }
    return done(`the tool failed after ${RETRIES + 1} attempts: ${last}`, true);
  }

  private async attempt(
    tool: HttpToolDef,
    call: PlannedCall,
    payload: string,
    signal: AbortSignal,
  ): Promise<Attempt> {
    const trusted = this.options.trustedOrigins.includes(new URL(tool.url).origin);
    const timeoutMs = tool.timeoutMs ?? this.options.defaultTimeoutMs ?? 30_000;
    try {
      if (!trusted)
        checkTargetUrl(tool.url, { allowPrivateTargets: this.options.allowPrivateTargets, allowHttp: false });
      const headers = deliveryHeaders(
        { id: call.callId, event: "tool.call", payload, secret: tool.secret },
        Date.now(),
      );
      const res = await request(tool.url, {
        method: "POST",
        headers: { ...headers, "idempotency-key": call.callId },
        body: payload,
        dispatcher: trusted ? this.trusted : this.guarded,
        signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
      });
      const text = await readCapped(res.body, MAX_TOOL_OUTPUT_BYTES);
      if (res.statusCode >= 500)
        return { done: false, error: `HTTP ${res.statusCode}: ${text.slice(0, 300)}` };
      const ok = res.statusCode >= 200 && res.statusCode < 300;
      const output = ok ? text : `HTTP ${res.statusCode}: ${text}`;
      return { done: true, output: { output, isError: !ok, durationMs: 0 } };
    } catch (err) {
      if (signal.aborted) throw err;
      if (err instanceof TargetRefusedError)
        return { done: true, output: { output: err.message, isError: true, durationMs: 0 } };
      return { done: false, error: (err as Error).message || String(err) };
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.guarded.close(), this.trusted.close()]);
  }
}

/** The body as text, at most `max` bytes of it kept (the rest is counted, then noted). */
async function readCapped(body: AsyncIterable<Buffer>, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let kept = 0;
  let total = 0;
  for await (const chunk of body) {
    total += chunk.length;
    if (kept < max) {
      const part = chunk.subarray(0, max - kept);
      chunks.push(part);
      kept += part.length;
    }
  }
  const text = Buffer.concat(chunks).toString("utf8");
  return total > max ? `${text}\n[truncated: the tool returned ${total} bytes, ${max} kept]` : text;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
