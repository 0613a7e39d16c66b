import { createWriteStream, type WriteStream } from "node:fs";

export interface MockRequestLogEntry {
  /** Epoch milliseconds. */
  at: number;
  status: number;
  model: string;
  /** The first 200 characters of the last user message. */
  lastUserMessage: string;
}

const LOGGED_MESSAGE_CHARS = 200;

/** Every chat request the mock answered: in memory, counted by status, and as JSON lines in a file. */
export class MockRequestLog {
  /** In arrival order. */
  readonly entries: MockRequestLogEntry[] = [];
  private readonly countsByStatus: Record<string, number> = {};
  private readonly file: WriteStream | undefined;

  constructor(logFile?: string) {
    this.file = logFile ? createWriteStream(logFile, { flags: "a" }) : undefined;
  }

  record(status: number, model: string, lastUserMessage: string): void {
    const entry: MockRequestLogEntry = {
      at: Date.now(),
      status,
      model,
      lastUserMessage: lastUserMessage.slice(0, LOGGED_MESSAGE_CHARS),
    };
    this.entries.push(entry);
    this.countsByStatus[status] = (this.countsByStatus[status] ?? 0) + 1;
    this.file?.write(`${JSON.stringify(entry)}\n`);
  }

  stats(): { total: number; byStatus: Record<string, number> } {
    return { total: this.entries.length, byStatus: this.countsByStatus };
  }

  close(): Promise<void> {
    const file = this.file;
    return file ? new Promise<void>((resolve) => file.end(resolve)) : Promise.resolve();
  }
}
