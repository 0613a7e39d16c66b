import type { ClaimedItem } from "../store/types.js";
import { ItemAbort } from "./item-abort.js";

/** An item this process holds a lease on, from its claim until its outcome is stored or it is handed back. */
export interface HeldItem {
  readonly item: ClaimedItem;
  /** Aborts its wait for a rate-limit permit and its model call (stop, lost lease, halted batch). */
  readonly abort: ItemAbort;
  /** Claimed ahead: it waits in the local buffer for a free slot and has not begun to run. */
  queued: boolean;
  /** The model call started: the item can no longer be handed back untouched. */
  started: boolean;
  /**
   * Its one model call was answered (not yet read): it no longer takes a slot nor room in the
   * claim buffer, so the next item starts (and the buffer is refilled) while this one's answer is
   * parsed and settled. It stays held (lease, fencing) until its outcome is stored.
   */
  answered: boolean;
  /** Its outcome waits for the group commit: it keeps its lease but no longer takes a slot. */
  done: boolean;
  /** When this process claimed it (epoch ms). */
  readonly claimedAt: number;
}

/**
 * The items of one engine, shared by its roles: the claimer adds them to the buffer, the engine
 * takes them out into free slots, the executor runs them, the lease keeper renews and hands them
 * back, and the completer drops them once their outcome is stored.
 */
export class HeldItems {
  private readonly byId = new Map<number, HeldItem>();
  /** The buffered items, oldest claim first. */
  private readonly buffer: HeldItem[] = [];
  private doneCount = 0;
  /** Items answered but not yet done: held, not busy. */
  private answeredCount = 0;
  /** Items whose slot was freed since start (answered or done, once each): the completion rate's count. */
  freed = 0;
  /**
   * Unfinished items by workspace, kept as items come and go: the claimer reads it before every
   * claim, and counting over 10,000 held items each time cost more than the claim itself.
   */
  private readonly unfinished = new Map<string, number>();

  private count(workspaceId: string, delta: number): void {
    const next = (this.unfinished.get(workspaceId) ?? 0) + delta;
    if (next === 0) this.unfinished.delete(workspaceId);
    else this.unfinished.set(workspaceId, next);
  }

  /** Holds a freshly claimed item, in the buffer until `next()` gives it a slot. */
  add(item: ClaimedItem): HeldItem {
    const held: HeldItem = {
      item,
      abort: new ItemAbort(),
      queued: true,
      started: false,
      answered: false,
      done: false,
      claimedAt: Date.now(),
    };
    // Claimed again while an earlier claim of it is still held (its lease was lost): that one goes.
    if (this.byId.has(item.id)) this.drop(item.id);
    this.byId.set(item.id, held);
    this.buffer.push(held);
    this.count(item.workspaceId, 1);
    return held;
  }

  /** Takes the oldest buffered item out of the buffer: it takes a slot from now on. */
  next(): HeldItem | undefined {
    const held = this.buffer.shift();
    if (held) held.queued = false;
    return held;
  }

  /** Whether `held` is still this process's (not dropped after a lost lease or a hand-back). */
  holds(held: HeldItem): boolean {
    return this.byId.get(held.item.id) === held;
  }

  /** Frees the slot of a started item whose call was answered; false if it had none to free. */
  markAnswered(held: HeldItem): boolean {
    if (held.answered || held.done || held.queued || !held.started || !this.holds(held)) return false;
    held.answered = true;
    this.answeredCount++;
    this.freed++;
    this.count(held.item.workspaceId, -1);
    return true;
  }

  /** Frees the slot of an item whose outcome is buffered; false if it had none to free. */
  markDone(held: HeldItem): boolean {
    if (held.done || held.queued || !this.holds(held)) return false;
    if (held.answered) this.answeredCount--;
    else {
      this.count(held.item.workspaceId, -1);
      this.freed++;
    }
    held.done = true;
    this.doneCount++;
    return true;
  }

  /** Forgets an item (stored, lease lost, or handed back); with `attempt`, only that claim of it. */
  drop(itemId: number, attempt?: number): HeldItem | undefined {
    const held = this.byId.get(itemId);
    if (!held || (attempt !== undefined && held.item.attempt !== attempt)) return undefined;
    if (held.done) this.doneCount--;
    else if (held.answered) this.answeredCount--;
    else this.count(held.item.workspaceId, -1);
    if (held.queued) this.buffer.splice(this.buffer.indexOf(held), 1);
    this.byId.delete(itemId);
    return held;
  }

  get size(): number {
    return this.byId.size;
  }

  /** Items not finished: running in a slot (not yet answered) or waiting in the buffer. */
  get busy(): number {
    return this.byId.size - this.doneCount - this.answeredCount;
  }

  /** Items whose outcome is not buffered yet: busy ones and answered ones. */
  get unsettled(): number {
    return this.byId.size - this.doneCount;
  }

  /** Items that take a concurrency slot: taken out of the buffer, not answered and not finished. */
  get running(): number {
    return this.busy - this.buffer.length;
  }

  /** Items claimed ahead, waiting in the buffer for a slot. */
  get buffered(): number {
    return this.buffer.length;
  }

  /** Items not finished (running or buffered) by workspace: what counts toward its share. */
  busyByWorkspace(): Map<string, number> {
    return new Map(this.unfinished);
  }

  /** Whether an item (any claim of it) is held. */
  has(itemId: number): boolean {
    return this.byId.has(itemId);
  }

  get(itemId: number): HeldItem | undefined {
    return this.byId.get(itemId);
  }

  ids(): number[] {
    return [...this.byId.keys()];
  }

  values(): HeldItem[] {
    return [...this.byId.values()];
  }
}
