import type { Logger } from "pino";
import type { LimiterRegistry } from "../providers/rate-limiter.js";
import type { LiveWorker } from "../store/workers.js";
import type { EngineStore } from "./engine-store.js";
import { BackgroundLoop } from "./loop.js";

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
 */
export class Heartbeat {
  private readonly loop: BackgroundLoop | null = null;
  private first: Promise<void> = Promise.resolve();
  private resolveFirst: () => void = () => {};
  private beaten = false;
  /** The start of this worker's row, kept when the row is inserted again after a stall. */
  private startedAt: number | undefined;
  /** Holds the share once the `now` of the last committed row write is FENCE_MS old. */
  private fence: NodeJS.Timeout | null = null;
  /** The `now` of the last committed row write. */
  private lastWrite: number | undefined;
  /** The fence fired (or was due) since the last committed row write: the share is held. */
  private fenceFired = false;
  /** This beat's write landed after the fence fired: the beat counts as a join. */
  private fenced = false;
  /** This worker has had a share (spent from its buckets) since it started. */
  private hadShare = false;
  /** No live worker had a share when this one joined: its buckets may start full. */
  private fresh = false;
  /**
   * While joining: the last beat read of each other live worker and how many of its beats were
   * seen since the join (null: this worker has its share).
   */
  private joining: Map<string, { lastSeen: number; beats: number }> | null = null;

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
      const now = Date.now();
      // Inserted again after a stall, the row keeps its start, so that it does not look like a
      // worker at its first beat (which has spent nothing) to a joining one.
      this.startedAt ??= now;
      const live = await this.deps.store.workers.heartbeat(
        this.deps.owner,
        now,
        now - WORKER_STALE_MS,
        this.startedAt,
        () => this.written(now),
      );
      this.takeShare(live);
    } finally {
      this.resolveFirst();
    }
  }

  /**
   * This beat's row write (of `now`) has committed: the others see this worker until `now` +
   * WORKER_STALE_MS, so the fence is armed again from `now` at once, not after the beat's read
   * (a beat of more than ~500 ms, as on a busy pool, would otherwise meet the fence every time
   * and never take a share). The beat counts as a join only if the fence fired before the write.
   */
  private written(now: number): void {
    if (this.fence) clearTimeout(this.fence);
    this.fence = null;
    const late = this.lastWrite !== undefined && Date.now() >= this.lastWrite + FENCE_MS;
    if (this.fenceFired || late) {
      // The others may have forgotten this worker (and taken its share) before this write.
      this.fenced = true;
      this.deps.limiters.hold();
    }
    this.lastWrite = now;
    this.fenceFired = false;
    const wait = now + FENCE_MS - Date.now();
    if (wait <= 0) {
      // Written this late, the row may be forgotten before the next write: the fence is due.
      this.fenceFired = true;
      this.deps.limiters.hold();
      return;
    }
    this.fence = setTimeout(() => {
      this.fence = null;
      this.fenceFired = true;
      this.deps.limiters.hold();
    }, wait);
    this.fence.unref?.();
  }

  /** Sets this worker's share of the limits from the live workers one beat read. */
  private takeShare(live: LiveWorker[]): void {
    const { owner, limiters, logger } = this.deps;
    const others = live.filter((w) => w.id !== owner);
    const first = !this.beaten;
    this.beaten = true;
    if (first || this.fenced) {
      // Joined, or beat too late (a stall): the others may have forgotten this worker and taken
      // its share already. None until they have counted it again.
      this.fenced = false;
      limiters.hold();
      // A worker at its first beat has its row's start as its last beat.
      this.fresh = !this.hadShare && others.every((w) => w.lastSeen === w.startedAt);
      this.joining = new Map(others.map((w) => [w.id, { lastSeen: w.lastSeen, beats: 0 }]));
      logger.debug({ others: others.length }, "joined the workers: no share of the limits yet");
      return;
    }
    // The fence fired after this beat's write (its read was slow): held until the next write.
    if (this.fenceFired) return;
    const joining = this.joining;
    if (joining) {
      let waiting = 0;
      for (const w of others) {
        const seen = joining.get(w.id);
        if (!seen) joining.set(w.id, { lastSeen: w.lastSeen, beats: 0 });
        else if (seen.lastSeen !== w.lastSeen) {
          seen.lastSeen = w.lastSeen;
          seen.beats++;
        }
        if ((seen?.beats ?? 0) < BEATS_BEFORE_SHARE) waiting++;
      }
      if (waiting > 0) return;
      this.joining = null;
      this.hadShare = true;
      limiters.setShare(1 / live.length, { fill: this.fresh });
      return;
    }
    limiters.setShare(1 / live.length);
  }
}
