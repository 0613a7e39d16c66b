/** At most `limit` tool calls at once per host, per process (a slow tool server is not flooded). */
export class HostLimit {
  private readonly running = new Map<string, number>();
  private readonly waiting = new Map<string, (() => void)[]>();

  constructor(private readonly limit: number) {}

  async run<T>(host: string, fn: () => Promise<T>): Promise<T> {
    await this.acquire(host);
    try {
      return await fn();
    } finally {
      this.release(host);
    }
  }

  private acquire(host: string): Promise<void> {
    const n = this.running.get(host) ?? 0;
    if (n < this.limit) {
      this.running.set(host, n + 1);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const queue = this.waiting.get(host) ?? [];
      queue.push(resolve);
      this.waiting.set(host, queue);
    });
  }

  private release(host: string): void {
    const next = this.waiting.get(host)?.shift();
    if (next) {
      next();
      return;
    }
    const n = (this.running.get(host) ?? 1) - 1;
    if (n === 0) this.running.delete(host);
    else this.running.set(host, n);
  }
}
