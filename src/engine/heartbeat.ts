import type { Logger } from "pino";
import type { LimiterRegistry } from "../providers/rate-limiter.js";
import type { LiveWorker } from "../store/workers.js";
import type { EngineStore } from "./engine-store.js";
import { BackgroundLoop } from "./loop.js";
import { engineTrace } from "./trace.js";

/** How often a worker sharing limits with others records that it is alive. */
const HEARTBEAT_MS = 1000;
/**
 * A worker not seen for this long is taken for dead: it stops counting in the limit shares and
 * the items it held are returned at once (engine/recovery.ts).
 */
export const WORKER_STALE_MS = 3 * HEARTBEAT_MS;
/**
 * A worker whose last committed row write (that beat's `now`) is this old holds its share: the
 * others may forget it soon and take its share, and it joins again at its next write.
 */
const FENCE_MS = WORKER_STALE_MS - HEARTBEAT_MS;

export interface HeartbeatDeps {
  store: Pick<EngineStore, "workers" | "capabilities">;
  owner: string;
  limiters: LimiterRegistry;
  logger: Logger;
}

/**
 * How many beats of every other live worker a joining worker waits to see before it takes a
 * share: the first beat after the join counted it (and cut that worker's share), the second
 * began after that cut was made.
 */
const BEATS_BEFORE_SHARE = 2;

/** The last beat read of another live worker while joining, and how many of its beats were seen since. */
interface Seen {
  lastSeen: number;
  beats: number;
}

/**
 * This worker's share of the limits. Only `sharing` has one; `hadShare` (it has had a share
 * since it started, so its buckets never start full again) rides along in the others, and
 * `sharing` implies it. Transitions (`written`: a beat's row write committed; `fence`: that
 * write became FENCE_MS old before the next one; `read`: the beat read the live workers):
 *
 *   starting --written--> joinDue --read--> joining --read, all counted it--> sharing --read--> sharing
 *   joinDue, joining, sharing --written late--> joinDue
 *   joinDue, joining, sharing --fence--> held --written--> joinDue
 *
 * A beat that finds `starting` at its read (a registry that never reports the write) joins as
 * from `joinDue`; `held` ignores reads until the next write.
 */
type ShareState =
  /** No beat has counted the workers yet (the share is held from the start). */
  | { kind: "starting" }
  /**
   * A row write committed that the others may not have counted: the first one, or one after the
   * fence fired or was due (a stall: they may have forgotten this worker and taken its share).
   * The beat's read joins.
   */
  | { kind: "joinDue"; hadShare: boolean }
  /**
   * Counted by its beat, no share until every other live worker has beaten BEATS_BEFORE_SHARE
   * times since (`seen`). `fill`: no live worker had a share when it joined: its buckets may start full.
   */
  | { kind: "joining"; hadShare: boolean; fill: boolean; seen: Map<string, Seen> }
  /** 1 / live workers of every limit, set again at every beat. */
  | { kind: "sharing" }
  /** The last committed row write is FENCE_MS old: the share is held until the next write, which joins again. */
  | { kind: "held"; hadShare: boolean };

function hadShare(state: ShareState): boolean {
  if (state.kind === "starting") return false;
  if (state.kind === "sharing") return true;
  return state.hadShare;
}

/**
 * On a database shared by several processes, each worker beats a heartbeat into the store and
 * takes 1 / live workers of every upstream's limits. On a database of one process (SQLite) there
 * is nothing to share: it does nothing and the process keeps the whole limit.
 *
 * The workers' shares must never add up to more than the limit, though each learns the count
 * at its own beat. So shares shrink before others grow: a worker that joins (its first beat, or
 * its first after a stall: its last row write was 2 s old, and it held its share from then on, since
 * the others forget it at 3 s and grow) holds no share until its next beat and until every other
 * live worker has beaten twice since, having counted it; then it takes 1 / live.
 * Its buckets start empty (the share the others gave up may be spent already), unless no live
 * worker had a share when it joined: every other was at its first beat too (none takes a share
 * there), so nothing was spent, and those that start full counted each other (a deployment
 * started at once, or a worker alone, has the whole burst, as a single process does).
 * The states and their transitions: `ShareState`.
 */
export class Heartbeat {
  private readonly loop: BackgroundLoop | null = null;
  private first: Promise<void> = Promise.resolve();
  private resolveFirst: () => void = () => {};
  private state: ShareState = { kind: "starting" };
  /** The start of this worker's row, kept when the row is inserted again after a stall. */
  private startedAt: number | undefined;
  /** Moves to `held` once the `now` of the last committed row write is FENCE_MS old. */
  private fence: NodeJS.Timeout | null = null;
  /** The `now` of the last committed row write. */
  private lastWrite: number | undefined;

  constructor(private readonly deps: HeartbeatDeps) {
    if (!deps.store.capabilities.sharedByProcesses) return;
    // No share of any limit before the first beat has counted the workers.
    deps.limiters.hold();
    this.loop = new BackgroundLoop({
      iteration: () => this.beat(),
      intervalMs: HEARTBEAT_MS,
      onError: (err) => deps.logger.error({ err }, "worker heartbeat failed"),
    });
  }

  /** Resolves once the first beat is done (or failed): the share of the limits is known. */
  get firstBeat(): Promise<void> {
    return this.first;
  }

  start(): void {
    if (!this.loop) return;
    this.first = new Promise((resolve) => {
      this.resolveFirst = resolve;
    });
    this.loop.start();
  }

  /** Stops beating and forgets this worker, so the others take its share at once. */
  async stop(): Promise<void> {
    if (!this.loop) return;
    await this.loop.stop();
    if (this.fence) clearTimeout(this.fence);
    this.resolveFirst();
    await this.deps.store.workers
      .remove(this.deps.owner)
      .catch((err) => this.deps.logger.warn({ err }, "could not remove this worker's heartbeat row"));
  }

  private async beat(): Promise<void> {
    try {
      // This process's clock times the fence only; the rows' times are the database's.
      const now = Date.now();
      const live = await this.deps.store.workers.heartbeat(
        this.deps.owner,
        WORKER_STALE_MS,
        this.startedAt,
        () => this.written(now),
      );
      // Inserted again after a stall, the row keeps its start, so that it does not look like a
      // worker at its first beat (which has spent nothing) to a joining one.
      this.startedAt ??= live.find((w) => w.id === this.deps.owner)?.startedAt;
      this.takeShare(live);
      if (engineTrace) engineTrace.event("beat", now, live.length);
    } finally {
      this.resolveFirst();
    }
  }

  /**
   * This beat's row write has committed: the others see this worker until WORKER_STALE_MS after
   * it, by the database's clock. `now` (this process's clock, read before the write) times that
   * span from no later than the write, by elapsed time only, whatever the clocks' offset. The
   * fence is armed again from `now` at once, not after the beat's read (a beat of more than
   * ~500 ms, as on a busy pool, would otherwise meet the fence every time and never take a share). The beat joins only if the fence fired (or was due) before the write.
   */
  private written(now: number): void {
    if (this.fence) clearTimeout(this.fence);
    this.fence = null;
    const late = this.lastWrite !== undefined && Date.now() >= this.lastWrite + FENCE_MS;
    const { kind } = this.state;
    if (kind === "starting" || kind === "held" || late) {
      this.state = { kind: "joinDue", hadShare: hadShare(this.state) };
      this.deps.limiters.hold();
    }
    this.lastWrite = now;
    const wait = now + FENCE_MS - Date.now();
    if (wait <= 0) {
      // Written this late, the row may be forgotten before the next write: the fence is due.
      this.fenceFired();
      return;
    }
    this.fence = setTimeout(() => {
      this.fence = null;
      this.fenceFired();
    }, wait);
    this.fence.unref?.();
  }

  /** The last write is FENCE_MS old: the others may forget this worker soon and take its share. */
  private fenceFired(): void {
    this.state = { kind: "held", hadShare: hadShare(this.state) };
    this.deps.limiters.hold();
  }

  /** Sets this worker's share of the limits from the live workers one beat read. */
  private takeShare(live: LiveWorker[]): void {
    const { owner, limiters, logger } = this.deps;
    const others = live.filter((w) => w.id !== owner);
    const state = this.state;
    switch (state.kind) {
      case "held":
        // The fence fired (before this beat's write, or during its read): held until the next write.
        return;
      case "starting":
      case "joinDue": {
        // None until the others have counted this worker again. A worker at its first beat has
        // its row's start as its last beat.
        limiters.hold();
        this.state = {
          kind: "joining",
          hadShare: hadShare(state),
          fill: !hadShare(state) && others.every((w) => w.lastSeen === w.startedAt),
          seen: new Map(others.map((w) => [w.id, { lastSeen: w.lastSeen, beats: 0 }])),
        };
        logger.debug({ others: others.length }, "joined the workers: no share of the limits yet");
        return;
      }
      case "joining": {
        let waiting = 0;
        for (const w of others) {
          const seen = state.seen.get(w.id);
          if (!seen) state.seen.set(w.id, { lastSeen: w.lastSeen, beats: 0 });
          else if (seen.lastSeen !== w.lastSeen) {
            seen.lastSeen = w.lastSeen;
            seen.beats++;
          }
          if ((seen?.beats ?? 0) < BEATS_BEFORE_SHARE) waiting++;
        }
        if (waiting > 0) return;
        this.state = { kind: "sharing" };
        limiters.setShare(1 / live.length, { fill: state.fill });
        return;
      }
      case "sharing":
        limiters.setShare(1 / live.length);
    }
  }
}
