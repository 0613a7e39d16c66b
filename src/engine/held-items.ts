import type { ClaimedItem } from "../store/types.js";

/** An item this process holds a lease on, from its claim until its outcome is stored or it is handed back. */
export interface HeldItem {
  readonly item: ClaimedItem;
  /** Aborts its wait for a rate-limit permit and its model call (stop, lost lease, halted batch). */
  readonly abort: AbortController;
  /** The model call started: the item can no longer be handed back untouched. */
  started: boolean;
  /** Its outcome waits for the group commit: it keeps its lease but no longer takes a slot. */
  done: boolean;
  /** When this process claimed it (epoch ms). */
  readonly claimedAt: number;
}

/**
 * The items of one engine, shared by its roles: the claimer adds them and counts the busy
 * slots, the executor runs them, the lease keeper renews and hands them back, and the completer
 * drops them once their outcome is stored.
 */
export class HeldItems {
  private readonly byId = new Map<number, HeldItem>();
  private doneCount = 0;

  add(item: ClaimedItem): HeldItem {
    const held: HeldItem = {
      item,
      abort: new AbortController(),
      started: false,
      done: false,
      claimedAt: Date.now(),
    };
    this.byId.set(item.id, held);
    return held;
  }

  /** Whether `held` is still this process's (not dropped after a lost lease or a hand-back). */
  holds(held: HeldItem): boolean {
    return this.byId.get(held.item.id) === held;
  }

  /** Frees the slot of an item whose outcome is buffered; false if it had none to free. */
  markDone(held: HeldItem): boolean {
    if (held.done || !this.holds(held)) return false;
    held.done = true;
    this.doneCount++;
    return true;
  }

  /** Forgets an item (stored, lease lost, or handed back); with `attempt`, only that claim of it. */
  drop(itemId: number, attempt?: number): HeldItem | undefined {
    const held = this.byId.get(itemId);
    if (!held || (attempt !== undefined && held.item.attempt !== attempt)) return undefined;
    if (held.done) this.doneCount--;
    this.byId.delete(itemId);
    return held;
  }

  get size(): number {
    return this.byId.size;
  }

  /** Items that take a concurrency slot: claimed and not yet finished. */
  get busy(): number {
    return this.byId.size - this.doneCount;
  }

  /** Busy slots by workspace. */
  busyByWorkspace(): Map<string, number> {
    const busy = new Map<string, number>();
    for (const h of this.byId.values()) {
      if (!h.done) busy.set(h.item.workspaceId, (busy.get(h.item.workspaceId) ?? 0) + 1);
    }
    return busy;
  }

  ids(): number[] {
    return [...this.byId.keys()];
  }

  values(): HeldItem[] {
    return [...this.byId.values()];
  }
}
