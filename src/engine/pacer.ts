export interface PacerOptions {
  /** Most starts in one event-loop turn (default 256). */
  maxPerTurn?: number;
  /** Most milliseconds of synchronous start work in one turn (default 4). */
  budgetMs?: number;
  /** A turn longer than this (default 8 ms) halves the budget; a shorter one grows it by a quarter. */
  slowTurnMs?: number;
  /** The smallest share of `maxPerTurn` it halves down to (default 1/4: 64 starts). */
  minScale?: number;
  /** Clock in ms (tests). */
  now?: () => number;
  /** Runs `fn` on the next event-loop turn; returns a cancel (tests). */
  nextTurn?: (fn: () => void) => () => void;
}

const immediately = (fn: () => void): (() => void) => {
  const handle = setImmediate(fn);
  return () => clearImmediate(handle);
};

/**
 * Paces work that comes in bursts so that it never holds the event loop for long: `startOne`
 * is called until it says there is nothing more to start, at most `maxPerTurn` times or for
 * `budgetMs` per event-loop turn, whichever comes first; the rest continues on the next turn
 * (setImmediate), after the I/O and timers that were waiting. With 10,000 calls in flight their
 * answers arrive in bursts, and starting a buffered item for each in the same synchronous run
 * held the loop (and every HTTP request) for hundreds of milliseconds.
 *
 * The count adapts to how busy the loop is: while turns take longer than `slowTurnMs` (measured
 * from scheduling a continuation to its run) it halves, down to `minScale` of `maxPerTurn`, and
 * each shorter turn grows it by a quarter, up to `maxPerTurn`. The time budget stays. With the
 * time budget scaled down too and a floor of an eighth, starts fell behind the answers on a
 * loaded machine, where most turns are slow (`bench/inflight.mjs`: 12–20 % fewer items/s).
 */
export class Pacer {
  private readonly maxPerTurn: number;
  private readonly budgetMs: number;
  private readonly slowTurnMs: number;
  private readonly minScale: number;
  private readonly now: () => number;
  private readonly nextTurn: (fn: () => void) => () => void;
  /** The share of `maxPerTurn` a turn may start (minScale … 1). */
  private scale = 1;
  private startedThisTurn = 0;
  private msThisTurn = 0;
  /** The continuation scheduled for the next turn (it also ends this turn's accounting). */
  private pending: { cancel: () => void; at: number } | null = null;
  /** This turn's budget is spent and items were left: only the continuation starts more. */
  private exhausted = false;
  private stopped = false;

  constructor(
    private readonly startOne: () => boolean,
    options: PacerOptions = {},
  ) {
    this.maxPerTurn = options.maxPerTurn ?? 256;
    this.budgetMs = options.budgetMs ?? 4;
    this.slowTurnMs = options.slowTurnMs ?? 8;
    this.minScale = options.minScale ?? 1 / 4;
    this.now = options.now ?? (() => performance.now());
    this.nextTurn = options.nextTurn ?? immediately;
  }

  /** How many starts one turn may make now. */
  get perTurn(): number {
    return Math.max(1, Math.floor(this.maxPerTurn * this.scale));
  }

  /** Whether starts were left for a later turn. */
  get waiting(): boolean {
    return this.exhausted;
  }

  /** Starts what this turn's budget allows now; the rest follows on the next turns. */
  run(): void {
    if (this.stopped || this.exhausted) return;
    this.work();
  }

  /** No more starts, now or on a later turn (the engine stops); `resume()` undoes it. */
  stop(): void {
    this.stopped = true;
    this.exhausted = false;
    this.pending?.cancel();
    this.pending = null;
    // The continuation that would have reset this turn's count is gone.
    this.startedThisTurn = 0;
    this.msThisTurn = 0;
  }

  resume(): void {
    this.stopped = false;
  }

  private work(): void {
    const limit = this.perTurn;
    const budget = this.budgetMs;
    const t0 = this.now();
    let elapsed = 0;
    let more = true;
    while (this.startedThisTurn < limit && this.msThisTurn + elapsed < budget) {
      if (!this.startOne()) {
        more = false;
        break;
      }
      this.startedThisTurn++;
      elapsed = this.now() - t0;
    }
    this.msThisTurn += elapsed;
    // startOne may have stopped the pacer (the engine stopping from inside a start).
    if (this.stopped) return;
    if (more) this.exhausted = true;
    // Something ran this turn: the next turn resets the count (and continues, if items are left).
    if ((more || this.startedThisTurn > 0) && !this.pending) {
      const at = this.now();
      this.pending = { at, cancel: this.nextTurn(() => this.turn(at)) };
    }
  }

  private turn(scheduledAt: number): void {
    this.pending = null;
    const length = this.now() - scheduledAt;
    this.scale =
      length > this.slowTurnMs ? Math.max(this.minScale, this.scale / 2) : Math.min(1, this.scale * 1.25);
    this.startedThisTurn = 0;
    this.msThisTurn = 0;
    if (!this.exhausted || this.stopped) return;
    this.exhausted = false;
    this.work();
  }
}
