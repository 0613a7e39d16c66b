import type { AbortListener, CallSignal } from "../providers/types.js";

/**
 * An item's stop (a lost lease, a cancelled or halted batch, a hand-back, the engine's stop): the
 * `CallSignal` its permit wait and model call listen to, and `abort()`. An AbortController per
 * item made an AbortSignal (an EventTarget with its listener map) and a listener record for every
 * call: ~1.4 KB of garbage per item and 3 % of the simulated model's CPU profile (bench/README.md,
 * "Issue 17, garbage per item"). This keeps the listeners in a field, and makes a real AbortSignal
 * only for a caller that asks for `signal` (a tool turn, an item's attached files), aborted with it.
 *
 * As an AbortSignal: listeners run once, in the order added, when `abort()` is first called, with
 * `aborted` already true; one added again is not added twice; one added after the abort is never
 * called (callers read `aborted` first); a listener that throws does not stop the others, and its
 * error is thrown on a later tick (an uncaught exception, as an EventTarget reports it).
 * Two differences, which no caller depends on: the listeners called are those registered when
 * `abort()` began (one removed by another during the abort still runs), and the lazily made
 * `signal` aborts after them (it reads `aborted` false inside them).
 */
export class ItemAbort implements CallSignal {
  aborted = false;
  /** One listener (the common case: the call in flight), or several. */
  private listeners: AbortListener | AbortListener[] | null = null;
  private controller: AbortController | null = null;

  /** A real AbortSignal, made on first use and aborted with this (aborted already if this is). */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort();
    }
    return this.controller.signal;
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const listeners = this.listeners;
    this.listeners = null;
    if (listeners !== null) {
      const event = new Event("abort");
      if (Array.isArray(listeners)) for (const l of listeners) call(l, event);
      else call(listeners, event);
    }
    this.controller?.abort();
  }

  addEventListener(type: "abort", listener: AbortListener, _options?: { once?: boolean }): void {
    if (type !== "abort" || this.aborted) return;
    const listeners = this.listeners;
    if (listeners === null) this.listeners = listener;
    else if (Array.isArray(listeners)) {
      if (!listeners.includes(listener)) listeners.push(listener);
    } else if (listeners !== listener) this.listeners = [listeners, listener];
  }

  removeEventListener(type: "abort", listener: AbortListener): void {
    const listeners = this.listeners;
    if (type !== "abort" || listeners === null) return;
    if (listeners === listener) this.listeners = null;
    else if (Array.isArray(listeners)) {
      const i = listeners.indexOf(listener);
      if (i !== -1) listeners.splice(i, 1);
    }
  }
}

function call(listener: AbortListener, event: Event): void {
  try {
    if (typeof listener === "function") listener(event);
    else listener.handleEvent(event);
  } catch (err) {
    process.nextTick(() => {
      throw err;
    });
  }
}
