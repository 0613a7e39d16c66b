import pg from "pg";
import type { Broadcast } from "../broadcast.js";

/** What the notifier needs of the driver: a way to open its own connection, and to send. */
export interface NotifierDriver {
  readonly schema: string | null;
  readonly clientConfig: pg.ClientConfig;
  run(sql: string, params?: unknown[]): Promise<number>;
}

/** Largest NOTIFY payload PostgreSQL accepts is 8000 bytes; callers split above this. */
export const MAX_NOTIFY_PAYLOAD = 7900;

/**
 * A broadcast channel between every process on one database (one per schema): PostgreSQL
 * LISTEN/NOTIFY. Messages go out through the pool and arrive on one dedicated connection that
 * is not from the pool (a pooled connection would be handed to queries and lose its LISTEN).
 * The connection comes back after a loss; `onReconnect` listeners hear about it, because
 * messages sent while it was down are lost.
 */
export class PostgresNotifier implements Broadcast {
  readonly channel: string;
  readonly maxMessageBytes = MAX_NOTIFY_PAYLOAD;
  private client: pg.Client | null = null;
  private closed = false;
  private retryMs = 100;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly listeners = new Set<(message: string) => void>();
  private readonly reconnectListeners = new Set<() => void>();

  constructor(
    private readonly driver: NotifierDriver,
    private readonly onError: (err: Error) => void = () => {},
  ) {
    this.channel = `agentbatch_${driver.schema ?? "public"}`.toLowerCase().slice(0, 63);
  }

  /** Connects and listens; resolves once listening (later losses reconnect in the background). */
  async start(): Promise<void> {
    await this.connect(false);
  }

  private async connect(isReconnect: boolean): Promise<void> {
    const client = new pg.Client(this.driver.clientConfig);
    client.on("notification", (msg) => {
      if (msg.channel !== this.channel || msg.payload === undefined) return;
      for (const l of this.listeners) l(msg.payload);
    });
    client.on("error", (err) => this.lost(client, err));
    client.on("end", () => this.lost(client, new Error("LISTEN connection ended")));
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channel}"`);
    } catch (err) {
      await client.end().catch(() => {});
      if (!isReconnect) throw err;
      this.lost(client, err as Error);
      return;
    }
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
    this.retryMs = 100;
    if (isReconnect) for (const l of this.reconnectListeners) l();
  }

  private lost(client: pg.Client, err: Error): void {
    if (this.closed || this.retryTimer) return;
    if (this.client !== null && this.client !== client) return;
    this.client = null;
    client.removeAllListeners("end");
    client.end().catch(() => {});
    this.onError(err);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect(true);
    }, this.retryMs);
    this.retryMs = Math.min(5000, this.retryMs * 2);
  }

  /** Sends a message to every listening process (this one included). */
  async publish(message: string): Promise<void> {
    await this.driver.run("SELECT pg_notify(?, ?)", [this.channel, message]);
  }

  subscribe(listener: (message: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const client = this.client;
    this.client = null;
    if (client) {
      client.removeAllListeners("end");
      await client.end().catch(() => {});
    }
    this.listeners.clear();
    this.reconnectListeners.clear();
  }
}
