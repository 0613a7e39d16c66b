import type { Logger } from "pino";
import type {
  Limiter,
  LimiterRegistry,
  Limiters,
  Permit,
  UpstreamLimiter,
} from "../providers/rate-limiter.js";
import type { CallSignal } from "../providers/types.js";
import type { EngineStore } from "./engine-store.js";
import { Heartbeat } from "./heartbeat.js";
import { newOwnerId } from "./instances.js";

/**
 * How long a process serving the API only stays a member of the limit shares after its last
 * call to a limited upstream. A minute: a bucket refills whole in that time, so what it spent
 * before it left is refilled when it comes back (and may start full if it is then alone).
 */
export const API_SHARE_IDLE_MS = 60_000;

export interface ApiShareDeps {
  store: Pick<EngineStore, "workers" | "capabilities">;
  /** This process's limiters (its chat turns'); held while it is not a member. */
  limiters: LimiterRegistry;
  logger: Logger;
  idleMs?: number;
}

/**
 * The limiters of a process that serves the API without an engine, on a database shared by
 * processes. Its chat turns call the upstreams too, so while it calls a limited one it is a
 * member of the limit shares (heartbeat.ts: it beats and holds 1 / live members) and the
 * members' shares never add up to more than the limit. Idle for `idleMs` (no call waiting or in
 * flight) it leaves: its row goes and the workers grow back into its share, so an API node
 * without chat traffic costs the workers nothing. Not a member, it holds every limited upstream:
 * its first call after a while waits for the join (at its second beat, ~1 s, when no other
 * member is live; on a busy deployment until the others have cut their shares, as any joining
 * worker).
 * Calls to upstreams without configured limits never wait and never join.
 */
export class ApiShare implements Limiters {
  private heartbeat: Heartbeat | null = null;
  /** Calls waiting for a permit or holding one. */
  private active = 0;
  private idle: NodeJS.Timeout | null = null;
  /** The last membership's leave, which a new join waits for. */
  private leaving: Promise<void> = Promise.resolve();
  private stopped = false;
  /** Resolves `stop`'s wait once no call waits or runs. */
  private drained: (() => void) | null = null;

  /**
   * The limiters of a process that serves the API without an engine: an ApiShare on a database
   * shared by processes (without it, N workers' shares add up to the limit and this process's
   * whole limit comes on top); null on a store of one process, where they need no share.
   */
  static open(deps: ApiShareDeps): ApiShare | null {
    return deps.store.capabilities.sharedByProcesses ? new ApiShare(deps) : null;
  }

  constructor(private readonly deps: ApiShareDeps) {
    // No share of any limit until a join has counted the members.
    deps.limiters.hold();
  }

  /** Whether this process is a member of the shares now (beating). */
  get member(): boolean {
    return this.heartbeat !== null;
  }

  get(provider: string): Limiter {
    const limiter = this.deps.limiters.get(provider);
    if (!limiter.limited) return limiter;
    return { acquire: (tokens, signal) => this.acquire(limiter, tokens, signal) };
  }

  /** Rejects every waiter (shutdown); `stop` leaves the shares. */
  close(): void {
    this.deps.limiters.close();
  }

  /**
   * Leaves the shares for good (after the API has drained). A chat turn's call may outlive the
   * API's drain (it runs on its own timeout): the share is kept up to `graceMs` for the calls
   * still waiting or running, so the workers do not grow into it while they run.
   */
  async stop(graceMs = 0): Promise<void> {
    this.stopped = true;
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
    if (this.active > 0 && graceMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((r) => {
          this.drained = r;
        }),
        new Promise<void>((r) => {
          timer = setTimeout(r, graceMs);
        }),
      ]);
      clearTimeout(timer);
      this.drained = null;
    }
    this.leave(true);
    await this.leaving;
  }

  private async acquire(limiter: UpstreamLimiter, tokens: number, signal: CallSignal): Promise<Permit> {
    // Already stopped: no join (a membership the workers would cut their shares for).
    if (signal.aborted) throw new Error("aborted while waiting for a rate-limit slot");
    this.active++;
    let permit: Permit;
    try {
      await this.join();
      permit = await limiter.acquire(tokens, signal);
    } catch (err) {
      this.settled();
      throw err;
    }
    let released = false;
    return {
      answered: permit.answered,
      release: (outcome, actualTokens) => {
        permit.release(outcome, actualTokens);
        if (released) return;
        released = true;
        this.settled();
      },
    };
  }

  private async join(): Promise<void> {
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
    if (this.heartbeat) return;
    await this.leaving;
    if (this.heartbeat || this.stopped) return;
    const { store, limiters, logger } = this.deps;
    this.heartbeat = new Heartbeat({ store, owner: newOwnerId(), limiters, logger });
    this.heartbeat.start();
    logger.debug("API process joined the limit shares");
  }

  private settled(): void {
    this.active--;
    if (this.active === 0) this.drained?.();
    if (this.active > 0 || !this.heartbeat || this.stopped) return;
    this.idle = setTimeout(() => this.leave(), this.deps.idleMs ?? API_SHARE_IDLE_MS);
    this.idle.unref?.();
  }

  /**
   * Holds every limit, then stops beating (the others take the share back once the row is gone).
   * Not while a call waits or runs, unless `force`d (shutdown).
   */
  private leave(force = false): void {
    this.idle = null;
    const heartbeat = this.heartbeat;
    if (!heartbeat || (this.active > 0 && !force)) return;
    this.heartbeat = null;
    const { limiters, logger } = this.deps;
    limiters.hold();
    this.leaving = this.leaving
      .then(async () => {
        await heartbeat.stop();
        // A beat that ended during the stop may have set a share again.
        limiters.hold();
        logger.debug("API process left the limit shares");
      })
      // A failed leave must not fail every later join (and so every limited chat call).
      .catch((err) => logger.warn({ err }, "leaving the limit shares failed"));
  }
}
