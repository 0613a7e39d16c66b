/**
 * Open MCP sessions shared by the tool calls of one process.
 *
 * Why a pool: a Streamable HTTP session costs an `initialize` round trip and an `initialized`
 * notification (and often a GET for the server's event stream) before the first `tools/call`,
 * and a clean end costs a `DELETE`; a client per call makes every tool call three to four HTTP
 * exchanges instead of one. A batch calls the same few servers thousands of times, so the
 * engine keeps one session per (server_url, headers, guard setting), used by concurrent calls
 * at once (JSON-RPC ids keep them apart), and closed after `idleMs` without calls. A session
 * the server forgot (HTTP 404, e.g. after its restart) is reopened once; any transport failure
 * drops the session so the next call connects afresh. Without a pool (`opts.pool` unset) each
 * call opens and ends its own session, which is what the rare publish-time listing does.
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import type { GuardOptions } from "../../webhooks/guard.js";
import { closeMcp, connectMcp, type McpToolDef } from "./mcp-connect.js";

interface Entry {
  key: string;
  client: Promise<Client>;
  active: number;
  uses: number;
  idle: NodeJS.Timeout | null;
  ended: boolean;
}

export interface McpPoolOptions {
  /** How long a session with no call in flight stays open (default 30 s). */
  idleMs?: number;
}

function poolKey(def: McpToolDef, guard: GuardOptions): string {
  const headers = Object.entries(def.headers ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([def.server_url, headers, guard.allowPrivateTargets, guard.allowHttp]);
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** A failure after which the session is not to be trusted (not a JSON-RPC error reply). */
function breaksSession(err: unknown, signal: AbortSignal | undefined): boolean {
  if (signal?.aborted) return false;
  return !(err instanceof McpError);
}

function isLostSession(err: unknown): boolean {
  return err instanceof StreamableHTTPError && err.code === 404;
}

export class McpClientPool {
  private readonly entries = new Map<string, Entry>();
  private readonly idleMs: number;
  private closed = false;

  constructor(options: McpPoolOptions = {}) {
    this.idleMs = options.idleMs ?? 30_000;
  }

  /** Number of open (or opening) sessions. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Runs `fn` with a connected client for `def`, opening a session if none is open. The
   * session's `initialize` gets `timeoutMs` and is shared, so one caller's abort does not fail
   * the others: a caller stops waiting on its own `signal`.
   */
  async use<T>(
    def: McpToolDef,
    guard: GuardOptions,
    options: { signal?: AbortSignal; timeoutMs: number },
    fn: (client: Client) => Promise<T>,
  ): Promise<T> {
    if (this.closed) throw new Error("the MCP client pool is closed");
    for (let attempt = 0; ; attempt++) {
      const entry = this.acquire(def, guard, options.timeoutMs);
      const reused = entry.uses > 1;
      try {
        return await fn(await untilAborted(entry.client, options.signal));
      } catch (err) {
        if (breaksSession(err, options.signal)) this.drop(entry);
        if (!(reused && attempt === 0 && isLostSession(err))) throw err;
      } finally {
        this.release(entry);
      }
    }
  }

  /** Closes every session; later `use` calls fail. */
  async close(): Promise<void> {
    this.closed = true;
    const entries = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(entries.map((e) => this.end(e)));
  }

  private acquire(def: McpToolDef, guard: GuardOptions, timeoutMs: number): Entry {
    const key = poolKey(def, guard);
    let entry = this.entries.get(key);
    if (!entry) {
      const created: Entry = {
        key,
        client: connectMcp(def, guard, { timeoutMs }),
        active: 0,
        uses: 0,
        idle: null,
        ended: false,
      };
      created.client.then(
        (client) => {
          client.onclose = () => {
            created.ended = true;
            this.forget(created);
          };
        },
        () => this.forget(created),
      );
      this.entries.set(key, created);
      entry = created;
    }
    if (entry.idle) clearTimeout(entry.idle);
    entry.idle = null;
    entry.active++;
    entry.uses++;
    return entry;
  }

  private release(entry: Entry): void {
    entry.active--;
    if (entry.active > 0) return;
    if (this.entries.get(entry.key) !== entry) {
      void this.end(entry);
      return;
    }
    entry.idle = setTimeout(() => this.drop(entry), this.idleMs);
    entry.idle.unref();
  }

  /** Removes the entry (if still current); its session ends once no call uses it. */
  private drop(entry: Entry): void {
    this.forget(entry);
    if (entry.active === 0) void this.end(entry);
  }

  private forget(entry: Entry): void {
    if (entry.idle) clearTimeout(entry.idle);
    entry.idle = null;
    if (this.entries.get(entry.key) === entry) this.entries.delete(entry.key);
  }

  private async end(entry: Entry): Promise<void> {
    if (entry.ended) return;
    entry.ended = true;
    if (entry.idle) clearTimeout(entry.idle);
    const client = await entry.client.catch(() => null);
    if (client) await closeMcp(client);
  }
}
