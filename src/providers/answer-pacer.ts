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
 *
 * Each answer of a turn is first told `answered()` (its caller frees the call's slot and starts
 * the next call, which needs only the answer's arrival), and only then are they delivered;
 * unless one of them `teaches()` (a 429, a spent rate-limit window): then none is, those are
 * delivered first and the others on the next turn, so the limiters learn it before any next
 * call is granted. When
 * any caller did start something, the delivery waits for the next turn: the next calls' own
 * continuations (microtasks, up to their dispatch) then run before the answers are parsed and
 * settled, rather than interleaved with them (bench/README.md, "Issue 17.2 at 50 ms").
 */
export class AnswerPacer<T extends { teaches(): boolean; answered(): boolean; deliver(): void }> {
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
    // A turn with an answer the limiters must learn first (a 429, a spent window) frees nothing
    // early: its answers are delivered (and their permits released, outcomes learned) first.
    // Each answer is asked `teaches()` once: the scan stops at the first that does, the split
    // below asks only the ones after it.
    let teacher = -1;
    for (let i = this.head; i < end; i++) {
      if (this.ready[i].teaches()) {
        teacher = i;
        break;
      }
    }
    let started = false;
    if (teacher < 0) for (let i = this.head; i < end; i++) if (this.ready[i].answered()) started = true;
    if (started) {
      setImmediate(deliverAll, this.ready.slice(this.head, end));
      this.head = end;
    } else if (teacher >= 0) {
      // The answers to learn from first settle (their microtasks run when this callback returns,
      // through to the limiter's release) before the others of the turn, on the next turn, can
      // release permits and grant waiters.
      const rest = this.ready.slice(this.head, teacher);
      this.ready[teacher].deliver();
      for (let i = teacher + 1; i < end; i++) {
        const a = this.ready[i];
        if (a.teaches()) a.deliver();
        else rest.push(a);
      }
      this.head = end;
      if (rest.length > 0) setImmediate(deliverAll, rest);
    } else {
      while (this.head < end) this.ready[this.head++].deliver();
    }
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

function deliverAll(answers: { deliver(): void }[]): void {
  for (const a of answers) a.deliver();
}
