import { EventEmitter } from "node:events";
import type { BatchTransition } from "../store/types.js";

export interface BatchChange {
  batchIds: string[];
  transitions: BatchTransition[];
  /**
   * The change queued no webhook delivery: a claim (items taken, no outcome stored, no status
   * moved), so the webhook dispatcher need not look at the outbox for it. Unset: it may have.
   */
  noDeliveries?: true;
}

/**
 * How the parts of agentbatch tell each other that something happened: new work for the
 * workers, and batch changes for progress streams and webhooks. In one process this is an
 * event emitter; on PostgreSQL it also crosses processes through LISTEN/NOTIFY.
 */
export interface Signals {
  /** Runnable work appeared (a batch was created or resumed). */
  notifyWork(): void;
  onWork(listener: () => void): () => void;
  /** Batch counters or statuses moved. */
  notifyBatchChanged(change: BatchChange): void;
  onBatchChanged(listener: (change: BatchChange) => void): () => void;
  close(): Promise<void>;
}

export class LocalSignals implements Signals {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  notifyWork(): void {
    this.emitter.emit("work");
  }

  onWork(listener: () => void): () => void {
    this.emitter.on("work", listener);
    return () => this.emitter.off("work", listener);
  }

  notifyBatchChanged(change: BatchChange): void {
    if (change.batchIds.length === 0 && change.transitions.length === 0) return;
    this.emitter.emit("batch", change);
  }

  onBatchChanged(listener: (change: BatchChange) => void): () => void {
    this.emitter.on("batch", listener);
    return () => this.emitter.off("batch", listener);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}
