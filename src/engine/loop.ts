export interface BackgroundLoopOptions {
  /**
   * One iteration. Resolves to how long to sleep before the next (`intervalMs` when it says
   * nothing; 0: at once, after one turn of the event loop so that I/O is never starved).
   */
  iteration: () => Promise<number | undefined> | Promise<void>;
  intervalMs: number;
  /** Logs an iteration that threw; the loop goes on after `intervalMs`. */
  onError: (err: unknown) => void;
  /**
   * How soon a poke wakes the sleeping loop (default 0). A few milliseconds coalesce a burst of
   * pokes into one iteration.
   */
  pokeDelayMs?: number;
  /** The first iteration runs at start (default) or one interval after it. */
  runAtStart?: boolean;
  /** Its timers do not keep the process alive. */
  unref?: boolean;
}

/**
 * The start and stop of one background loop, shared by every loop of agentbatch (the engine's
 * claimer, lease renewal, heartbeat and maintenance, the webhook dispatcher, the OpenAI output
 * writer). Iterations never overlap; between two the loop sleeps for what the iteration asked.
 * `poke()` cuts a sleep short, or asks for another iteration right after the running one.
 * `stop()` ends the loop and resolves once the running iteration has finished.
 */
export class BackgroundLoop {
  private running = false;
  private busy = false;
  private pokedWhileBusy = false;
  private current: Promise<void> = Promise.resolve();
  private sleeping: { at: number; cancel: () => void } | null = null;

  constructor(private readonly options: BackgroundLoopOptions) {}

  /** False once stopped: a long iteration checks it to end early. */
  get active(): boolean {
    return this.running;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.sleep(this.options.runAtStart === false ? this.options.intervalMs : 0);
  }

  /** Runs an iteration soon: now if asleep, right after the current one if busy. */
  poke(): void {
    if (!this.running) return;
    if (this.busy) this.pokedWhileBusy = true;
    else this.sleep(this.options.pokeDelayMs ?? 0);
  }

  async stop(): Promise<void> {
    this.running = false;
    this.sleeping?.cancel();
    this.sleeping = null;
    await this.current;
  }

  /** Schedules the next iteration in `ms`, unless one is already due sooner. */
  private sleep(ms: number): void {
    const at = Date.now() + ms;
    if (this.sleeping) {
      if (this.sleeping.at <= at) return;
      this.sleeping.cancel();
    }
    const wake = () => {
      this.sleeping = null;
      this.current = this.iterate();
    };
    if (ms <= 0) {
      const immediate = setImmediate(wake);
      this.sleeping = { at, cancel: () => clearImmediate(immediate) };
      return;
    }
    const timer = setTimeout(wake, ms);
    if (this.options.unref) timer.unref();
    this.sleeping = { at, cancel: () => clearTimeout(timer) };
  }

  private async iterate(): Promise<void> {
    this.busy = true;
    this.pokedWhileBusy = false;
    let next = this.options.intervalMs;
    try {
      const asked = await this.options.iteration();
      if (typeof asked === "number") next = asked;
    } catch (err) {
      this.options.onError(err);
    } finally {
      this.busy = false;
    }
    if (!this.running) return;
    if (this.pokedWhileBusy) next = Math.min(next, this.options.pokeDelayMs ?? 0);
    this.sleep(next);
  }
}
