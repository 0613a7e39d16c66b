import type { Logger } from "pino";
import type { EngineConfig } from "../config/index.js";
import { preemptions, type WorkspaceShare, workspaceCap } from "../domain/fair-share.js";
import type { ClaimedItem } from "../store/types.js";
import type { EngineStore } from "./engine-store.js";
import type { HeldItems } from "./held-items.js";
import { BackgroundLoop } from "./loop.js";
import type { Signals } from "./signals.js";

export interface ProducerDeps {
  store: Pick<EngineStore, "items">;
  /** Takes `count` slots back from a workspace over its cap (another workspace waits). */
  preempt: (workspaceId: string, count: number) => void;
  held: HeldItems;
  owner: string;
  config: Pick<
    EngineConfig,
    "concurrency" | "claimBatchSize" | "leaseMs" | "pollIntervalMs" | "workspaceShare"
  >;
  signals: Signals;
  logger: Logger;
  /** Resolves once the first claim may be made (this process knows its share of the limits). */
  ready: () => Promise<void>;
  /** Starts running a freshly claimed item. */
  begin: (item: ClaimedItem) => void;
}

/**
 * The claimer (River's producer): keeps the engine's concurrency slots filled by claiming
 * runnable items in groups, fairly across workspaces and batches (the store's claim), a
 * workspace holding at most `workspaceShare` of the slots while another has work. With every
 * slot taken and a workspace under its cap waiting, it takes back the excess of the workspaces
 * over their cap (a lone workspace may have taken every slot). It claims again at once while
 * full groups come back and slots are free, and otherwise sleeps until it is poked (work
 * arrived, a group of slots freed) or the poll interval passes.
 */
export class Producer {
  private readonly loop: BackgroundLoop;
  private primed = false;
  /** Items claimed since start. */
  claimed = 0;

  constructor(private readonly deps: ProducerDeps) {
    this.loop = new BackgroundLoop({
      iteration: () => this.claimOnce(),
      intervalMs: deps.config.pollIntervalMs,
      onError: (err) => deps.logger.error({ err }, "claiming items failed"),
    });
  }

  start(): void {
    this.loop.start();
  }

  /** Stops claiming; resolves once a claim in progress has returned (its items are held). */
  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** Claims soon: new work, or capacity freed. */
  poke(): void {
    this.loop.poke();
  }

  /** An item's slot freed: wakes the claimer once a worthwhile group is free, not for every one. */
  slotFreed(): void {
    const { concurrency } = this.deps.config;
    if (concurrency - this.deps.held.busy >= Math.max(1, Math.floor(concurrency / 4))) this.poke();
  }

  /** One claim; resolves to how long to sleep before the next (0: claim again at once). */
  private async claimOnce(): Promise<number | undefined> {
    const { store, held, owner, config } = this.deps;
    if (!this.primed) {
      await this.deps.ready();
      this.primed = true;
    }
    const share: WorkspaceShare = {
      cap: workspaceCap(config.concurrency, config.workspaceShare),
      busy: held.busyByWorkspace(),
    };
    const want = Math.min(config.concurrency - held.busy, config.claimBatchSize);
    if (want <= 0) {
      await this.preemptForWaiting(share);
      return undefined;
    }
    const items = await store.items.claim(owner, want, config.leaseMs, Date.now(), share);
    this.claimed += items.length;
    for (const item of items) this.deps.begin(item);
    if (items.length > 0) {
      this.deps.signals.notifyBatchChanged({
        batchIds: [...new Set(items.map((i) => i.batchId))],
        transitions: [],
      });
    }
    // A full group with room left: claim again, after the loop's yield to the event loop (with an
    // instant model every step resolves as a microtask, and HTTP requests would starve).
    return items.length === want && held.busy < config.concurrency ? 0 : undefined;
  }

  /** Every slot is taken: frees the excess of workspaces over their cap if another workspace waits. */
  private async preemptForWaiting(share: WorkspaceShare): Promise<void> {
    if (![...share.busy.values()].some((n) => n > share.cap)) return;
    const over = preemptions(await this.deps.store.items.runnableWorkspaces(), share);
    for (const [workspaceId, count] of over) this.deps.preempt(workspaceId, count);
  }
}
