/**
 * The bytes of attachments one process holds in memory at once (raw bytes and their base64
 * copy while a turn waits for and makes its model call). A turn reserves what its files will
 * take before reading them and gives it back when its call is over; a reservation that does not
 * fit waits, first come first served, so a batch of large images runs a few items at a time
 * instead of holding every one in memory.
 */
export class AttachmentBudget {
  private used = 0;
  private readonly waiting: { bytes: number; grant: () => void }[] = [];

  constructor(readonly limitBytes: number) {}

  get inUse(): number {
    return this.used;
  }

  /**
   * Reserves `bytes` (at most the whole budget); resolves to the release, or null if `signal`
   * ended the wait.
   */
  async reserve(bytes: number, signal?: AbortSignal): Promise<(() => void) | null> {
    const want = Math.min(bytes, this.limitBytes);
    if (signal?.aborted) return null;
    if (this.waiting.length === 0 && this.used + want <= this.limitBytes) return this.take(want);
    return new Promise((resolve) => {
      const entry = {
        bytes: want,
        grant: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve(this.take(want));
        },
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(entry);
        if (i !== -1) this.waiting.splice(i, 1);
        resolve(null);
        this.drain();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  private take(bytes: number): () => void {
    this.used += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= bytes;
      this.drain();
    };
  }

  private drain(): void {
    while (this.waiting.length > 0 && this.used + this.waiting[0].bytes <= this.limitBytes) {
      (this.waiting.shift() as { grant: () => void }).grant();
    }
  }
}
