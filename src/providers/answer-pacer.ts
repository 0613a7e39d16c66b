const MAX_PER_TURN = 256;
const MIN_PER_TURN = 64;
const SLOW_TURN_MS = 8;

/**
 * Paces the hand-over of whole answers to their callers, for every upstream of the process. With
 * 10,000 calls in flight the answers come in bursts, and each one's continuation (parsing it,
 * settling the item, buffering its outcome, starting the next item) ran in the I/O callback that
 * completed it: one poll phase handling a few hundred answers held the event loop (and every API
 * request) for tens to hundreds of ms (bench/inflight.mjs: 94 % of the answers were handled in
 * turns longer than 20 ms). Answers are queued instead and handed over at most `perTurn` per
 * event-loop turn (setImmediate), the count halving (down to MIN_PER_TURN) while turns take longer
 * than SLOW_TURN_MS and growing by a quarter per shorter one, as the engine's start pacer does.
 */
export class AnswerPacer<T extends { deliver(): void }> {
  private readonly ready: T[] = [];
  private head = 0;
  private scheduledAt = -1;
  private perTurn = MAX_PER_TURN;

  add(call: T): void {
    this.ready.push(call);
    if (this.scheduledAt < 0) this.schedule();
  }

  private schedule(): void {
    this.scheduledAt = performance.now();
    setImmediate(this.drain);
  }

  private readonly drain = (): void => {
    const turn = performance.now() - this.scheduledAt;
    this.perTurn =
      turn > SLOW_TURN_MS
        ? Math.max(MIN_PER_TURN, this.perTurn >> 1)
        : Math.min(MAX_PER_TURN, Math.ceil(this.perTurn * 1.25));
    const end = Math.min(this.ready.length, this.head + this.perTurn);
    while (this.head < end) this.ready[this.head++].deliver();
    if (this.head === this.ready.length) {
      this.ready.length = 0;
      this.head = 0;
      this.scheduledAt = -1;
    } else {
      // The continuations of these answers run when this callback returns; the rest next turn.
      if (this.head > 1024) {
        this.ready.splice(0, this.head);
        this.head = 0;
      }
      this.schedule();
    }
  };
}
