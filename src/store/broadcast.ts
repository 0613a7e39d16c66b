/**
 * A broadcast channel between every process on one database, when the database offers one
 * (PostgreSQL LISTEN/NOTIFY in postgres/notifier.ts). The engine's shared signals ride on it.
 */
export interface Broadcast {
  /** Largest message accepted, in bytes. */
  readonly maxMessageBytes: number;
  publish(message: string): Promise<void>;
  subscribe(listener: (message: string) => void): () => void;
  /** Messages sent while the channel was down are lost; listeners hear when it is back. */
  onReconnect(listener: () => void): () => void;
  close(): Promise<void>;
}
