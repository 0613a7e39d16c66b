import { BroadcastChannel } from "node:worker_threads";
import type { Broadcast } from "../broadcast.js";

/**
 * The broadcast between the threads of one process on one SQLite file (the API thread and the
 * engine thread, `src/threads/`): node's BroadcastChannel named after the file, so the shared
 * signals that ride LISTEN/NOTIFY on PostgreSQL reach the other thread's listeners. A channel
 * does not hear its own messages, and never loses any while both ends are open (no reconnect).
 */
export class ThreadBroadcast implements Broadcast {
  /** Messages are structured clones in memory; this only bounds a message SharedSignals builds. */
  readonly maxMessageBytes = 1024 * 1024;
  private readonly channel: BroadcastChannel;
  private readonly listeners = new Set<(message: string) => void>();

  constructor(name: string) {
    this.channel = new BroadcastChannel(`agentbatch:${name}`);
    // An open channel must not keep the process (or a thread) alive on its own.
    this.channel.unref();
    this.channel.onmessage = (event) => {
      const data = (event as unknown as { data: unknown }).data;
      if (typeof data !== "string") return;
      for (const l of this.listeners) l(data);
    };
  }

  async publish(message: string): Promise<void> {
    this.channel.postMessage(message);
  }

  subscribe(listener: (message: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onReconnect(): () => void {
    return () => {};
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.channel.close();
  }
}
