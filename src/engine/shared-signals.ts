import type { BatchTransition, Broadcast } from "../store/types.js";
import { type BatchChange, LocalSignals, type Signals } from "./signals.js";
import { engineTrace } from "./trace.js";

/** What goes over the wire: the sender, and work and/or batch changes. */
interface Message {
  o: string;
  w?: 1;
  b?: string[];
  t?: BatchTransition[];
  /** Every change in it queued no webhook delivery (`BatchChange.noDeliveries`). */
  n?: 1;
}

/** Events raised within this window are sent as one message. */
const COALESCE_MS = 10;
/**
 * The window when every pending event is a claim's (`noDeliveries`, no transition, no work):
 * it moves progress counters only, which another process reads for its progress streams alone,
 * and those emit at most every `progress.minIntervalMs` (250 ms). A NOTIFY per claim was a
 * statement per claim on PostgreSQL (148 per 5,000 items at 50 ms, bench/README.md, "Issue 17
 * on a medium machine"); any other event brings the send forward to `COALESCE_MS`.
 */
const PROGRESS_COALESCE_MS = 100;

/**
 * Signals shared by every process on one database: local listeners fire at once for local
 * events (as with LocalSignals), and the events also go to the other processes over the
 * broadcast channel, coalesced over a few milliseconds. A process ignores its own messages.
 * After the channel reconnects, idle workers are woken, since a lost message may have been work.
 */
export class SharedSignals implements Signals {
  private readonly local = new LocalSignals();
  private readonly origin = crypto.randomUUID().slice(0, 12);
  private pendingWork = false;
  private readonly pendingBatchIds = new Set<string>();
  private pendingTransitions: BatchTransition[] = [];
  /** A pending change may have queued a webhook delivery (one without `noDeliveries`). */
  private pendingDeliveries = false;
  private flushTimer: NodeJS.Timeout | null = null;
  /** When the pending send is due (`Date.now()` ms). */
  private flushAt = 0;
  private readonly unsubscribe: (() => void)[];
  private closed = false;

  constructor(
    private readonly broadcast: Broadcast,
    private readonly onError: (err: Error) => void = () => {},
  ) {
    this.unsubscribe = [
      broadcast.subscribe((m) => this.received(m)),
      broadcast.onReconnect(() => this.local.notifyWork()),
    ];
  }

  notifyWork(): void {
    this.local.notifyWork();
    this.pendingWork = true;
    this.schedule(COALESCE_MS);
  }

  onWork(listener: () => void): () => void {
    return this.local.onWork(listener);
  }

  notifyBatchChanged(change: BatchChange): void {
    if (change.batchIds.length === 0 && change.transitions.length === 0) return;
    this.local.notifyBatchChanged(change);
    for (const id of change.batchIds) this.pendingBatchIds.add(id);
    this.pendingTransitions.push(...change.transitions);
    if (!change.noDeliveries) this.pendingDeliveries = true;
    this.schedule(
      change.noDeliveries && change.transitions.length === 0 ? PROGRESS_COALESCE_MS : COALESCE_MS,
    );
  }

  onBatchChanged(listener: (change: BatchChange) => void): () => void {
    return this.local.onBatchChanged(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    for (const u of this.unsubscribe) u();
    await this.broadcast.close();
    await this.local.close();
  }

  /** Sends what is pending within `ms`: a send due later is brought forward, an earlier one kept. */
  private schedule(ms: number): void {
    if (this.closed) return;
    const at = Date.now() + ms;
    if (this.flushTimer) {
      if (this.flushAt <= at) return;
      clearTimeout(this.flushTimer);
    }
    this.flushAt = at;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      this.flush();
    }, ms);
  }

  private flush(): void {
    if (this.closed) return;
    const messages = this.split({
      o: this.origin,
      ...(this.pendingWork ? { w: 1 as const } : {}),
      b: [...this.pendingBatchIds],
      t: this.pendingTransitions,
      ...(this.pendingDeliveries ? {} : { n: 1 as const }),
    });
    this.pendingWork = false;
    this.pendingDeliveries = false;
    this.pendingBatchIds.clear();
    this.pendingTransitions = [];
    if (engineTrace) for (const m of messages) engineTrace.event("pub", m.w ? 1 : 0, m.b?.length ?? 0);
    for (const m of messages) this.broadcast.publish(JSON.stringify(m)).catch((err) => this.onError(err));
  }

  /** Splits a message that would exceed the channel's size into several that do not. */
  private split(m: Message): Message[] {
    const b = m.b ?? [];
    const t = m.t ?? [];
    if (!m.w && b.length === 0 && t.length === 0) return [];
    if (JSON.stringify(m).length <= this.broadcast.maxMessageBytes || (b.length + t.length <= 1 && !m.w)) {
      return [m];
    }
    const n = m.n ? { n: 1 as const } : {};
    if (b.length + t.length <= 1)
      return [
        { o: m.o, w: 1 },
        { o: m.o, b, t, ...n },
      ];
    const hb = Math.ceil(b.length / 2);
    const ht = Math.ceil(t.length / 2);
    return [
      ...this.split({
        o: m.o,
        ...(m.w ? { w: 1 as const } : {}),
        b: b.slice(0, hb),
        t: t.slice(0, ht),
        ...n,
      }),
      ...this.split({ o: m.o, b: b.slice(hb), t: t.slice(ht), ...n }),
    ];
  }

  private received(payload: string): void {
    let m: Message;
    try {
      m = JSON.parse(payload) as Message;
    } catch {
      return;
    }
    if (m.o === this.origin) return;
    engineTrace?.event("recv", m.w ? 1 : 0, m.b?.length ?? 0);
    if (m.w) this.local.notifyWork();
    const batchIds = m.b ?? [];
    const transitions = m.t ?? [];
    if (batchIds.length > 0 || transitions.length > 0)
      this.local.notifyBatchChanged({
        batchIds,
        transitions,
        ...(m.n ? { noDeliveries: true as const } : {}),
      });
  }
}
