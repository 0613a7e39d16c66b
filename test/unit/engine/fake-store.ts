import type { WorkspaceShare } from "../../../src/domain/fair-share.js";
import type {
  AgentVersion,
  BatchTransition,
  ClaimedItem,
  ClaimSeen,
  CommitReport,
  ItemOutcome,
  LeaseHolder,
  MessageRecord,
  NewTurnStep,
  StepFence,
  TurnStep,
} from "../../../src/store/types.js";
import type { LiveWorker } from "../../../src/store/workers.js";

/** An item of the fake queue: the claimed shape plus where it stands. */
interface FakeItem {
  item: ClaimedItem;
  status: "pending" | "processing" | "success" | "failed";
  leaseOwner: string | null;
  leaseExpiresAt: number;
  notBefore: number;
}

const EMPTY_REPORT: CommitReport = { applied: 0, discarded: 0, transitions: [], touchedBatchIds: [] };

/**
 * An in-memory stand-in for the parts of the store the engine uses (the item queue, batch
 * expiry, worker heartbeats, agent versions, chat history, capabilities), with the calls it
 * received recorded and knobs to make it misbehave. No database.
 */
export class FakeStore {
  readonly capabilities = { sharedByProcesses: false, broadcast: false };
  private readonly rows = new Map<number, FakeItem>();
  private nextId = 1;
  /** Every outcome the engine committed, and every hand-back, in order. */
  readonly commits: ItemOutcome[][] = [];
  readonly releases: { owner: string; items: { itemId: number; attempt: number }[] }[] = [];
  readonly heartbeats: number[] = [];
  /** The limit of every claim the engine made, in order. */
  readonly claims: number[] = [];
  /** Whether each claim said no work had arrived since the one before it (`ClaimSeen.sameWork`). */
  readonly sameWork: boolean[] = [];
  renewals = 0;
  /** Ids `renewLeases` reports as lost (another worker took them). */
  readonly lostLeases = new Set<number>();
  /** How many of the next commits throw (the database is down). */
  failingCommits = 0;
  /** Batches paused or cancelled: their items are not claimed. */
  readonly haltedBatches = new Set<string>();
  /** The reaper returns expired leases (off: a test's items never come back on their own). */
  reaping = true;
  /** How many workers the heartbeat reports alive. */
  liveWorkers = 1;
  agent: AgentVersion = {
    agentId: "agent-1",
    version: 1,
    name: "agent",
    model: "fake/model",
    systemPrompt: null,
    temperature: null,
    maxTokens: null,
    settings: {},
    createdAt: 0,
  };

  /** Queues `n` pending items of batch `batchId` (with `fields` set on each); returns their ids. */
  addItems(n: number, batchId = "batch-1", fields: Partial<ClaimedItem> = {}): number[] {
    const ids: number[] = [];
    for (let i = 0; i < n; i++) {
      const id = this.nextId++;
      ids.push(id);
      this.rows.set(id, {
        item: {
          id,
          batchId,
          workspaceId: "ws-1",
          seq: id,
          attempt: 0,
          interruptions: 0,
          customId: `c-${id}`,
          agentId: this.agent.agentId,
          agentVersion: this.agent.version,
          message: `message ${id}`,
          externalUserId: null,
          name: null,
          attachedFileUuids: [],
          historyId: null,
          ...fields,
        },
        status: "pending",
        leaseOwner: null,
        leaseExpiresAt: 0,
        notBefore: 0,
      });
    }
    return ids;
  }

  /** Makes pending item `id` due only at `at` (a retry's `not_before`). */
  dueAt(id: number, at: number): void {
    (this.rows.get(id) as FakeItem).notBefore = at;
  }

  status(id: number): FakeItem["status"] | undefined {
    return this.rows.get(id)?.status;
  }

  /** Every outcome committed so far, flattened. */
  get committed(): ItemOutcome[] {
    return this.commits.flat();
  }

  readonly items = {
    claim: async (
      owner: string,
      limit: number,
      leaseMs: number,
      now: number,
      _share?: WorkspaceShare,
      seen?: ClaimSeen,
    ): Promise<ClaimedItem[]> => {
      this.claims.push(limit);
      this.sameWork.push(seen?.sameWork === true);
      const out: ClaimedItem[] = [];
      // As the SQL store: a batch is runnable while it has an item pending, due or not.
      if (seen)
        seen.runnable = [...this.rows.values()].some(
          (row) => row.status === "pending" && !this.haltedBatches.has(row.item.batchId),
        );
      for (const row of this.rows.values()) {
        if (out.length >= limit) break;
        if (row.status !== "pending" || row.notBefore > now || this.haltedBatches.has(row.item.batchId))
          continue;
        row.status = "processing";
        row.leaseOwner = owner;
        row.leaseExpiresAt = now + leaseMs;
        row.item = { ...row.item, attempt: row.item.attempt + 1 };
        out.push(row.item);
      }
      return out;
    },
    renewLeases: async (owner: string, itemIds: number[], expiresAt: number): Promise<number[]> => {
      this.renewals++;
      const lost: number[] = [];
      for (const id of itemIds) {
        const row = this.rows.get(id);
        if (this.lostLeases.has(id) || row?.leaseOwner !== owner) lost.push(id);
        else row.leaseExpiresAt = expiresAt;
      }
      return lost;
    },
    release: async (
      owner: string,
      items: { itemId: number; attempt: number }[],
    ): Promise<BatchTransition[]> => {
      this.releases.push({ owner, items });
      for (const { itemId, attempt } of items) {
        const row = this.rows.get(itemId);
        if (!row || row.leaseOwner !== owner || row.item.attempt !== attempt) continue;
        row.status = "pending";
        row.leaseOwner = null;
        row.item = { ...row.item, attempt: attempt - 1 };
      }
      return [];
    },
    commit: async (outcomes: ItemOutcome[], _now: number): Promise<CommitReport> => {
      if (this.failingCommits > 0) {
        this.failingCommits--;
        throw new Error("database is down");
      }
      this.commits.push(outcomes);
      let applied = 0;
      for (const o of outcomes) {
        const row = this.rows.get(o.itemId);
        if (!row || row.leaseOwner !== o.leaseOwner || row.item.attempt !== o.attempt) continue;
        applied++;
        row.leaseOwner = null;
        if (o.kind === "retry") {
          row.status = "pending";
          row.notBefore = o.notBefore;
        } else if (o.kind !== "await") row.status = o.kind;
      }
      const touchedBatchIds = [...new Set(outcomes.map((o) => o.batchId))];
      return { applied, discarded: outcomes.length - applied, transitions: [], touchedBatchIds };
    },
    reapExpired: async (now: number, quarantineAfter: number): Promise<CommitReport> => {
      if (!this.reaping) return EMPTY_REPORT;
      return this.interrupt((row) => row.leaseExpiresAt <= now, quarantineAfter);
    },
    runnableWorkspaces: async (): Promise<string[]> => [
      ...new Set(
        [...this.rows.values()].filter((r) => r.status === "pending").map((r) => r.item.workspaceId),
      ),
    ],
    leaseHolders: async (): Promise<LeaseHolder[]> => {
      const earliest = new Map<string, number>();
      for (const r of this.rows.values()) {
        if (r.status !== "processing" || !r.leaseOwner) continue;
        earliest.set(
          r.leaseOwner,
          Math.min(earliest.get(r.leaseOwner) ?? Number.POSITIVE_INFINITY, r.leaseExpiresAt),
        );
      }
      return [...earliest].map(([owner, earliestExpiry]) => ({ owner, earliestExpiry }));
    },
    recoverFrom: async (owners: string[], _now: number, quarantineAfter: number): Promise<CommitReport> =>
      this.interrupt((row) => owners.includes(row.leaseOwner ?? ""), quarantineAfter),
  };

  /** Returns the processing items `which` picks to pending (or fails them at `quarantineAfter` interruptions). */
  private interrupt(which: (row: FakeItem) => boolean, quarantineAfter: number): CommitReport {
    let applied = 0;
    for (const row of this.rows.values()) {
      if (row.status !== "processing" || !which(row)) continue;
      applied++;
      row.leaseOwner = null;
      const interruptions = row.item.interruptions + 1;
      row.item = { ...row.item, interruptions };
      row.status = interruptions >= quarantineAfter ? "failed" : "pending";
    }
    return { ...EMPTY_REPORT, applied };
  }

  readonly batches = {
    expire: async (_now: number): Promise<CommitReport> => EMPTY_REPORT,
  };

  readonly workers = {
    heartbeat: async (
      workerId: string,
      _staleMs: number,
      startedAt?: number,
      onWritten?: () => void,
    ): Promise<LiveWorker[]> => {
      const now = Date.now();
      startedAt ??= this.heartbeats[0] ?? now;
      this.heartbeats.push(now);
      onWritten?.();
      return Array.from({ length: this.liveWorkers }, (_, i) => ({
        id: i === 0 ? workerId : `other-${i}`,
        startedAt,
        lastSeen: now,
      }));
    },
    live: async (_staleMs: number): Promise<string[]> => [],
    remove: async (_workerId: string): Promise<void> => {},
    runAsLeader: async <T>(_task: string, fn: () => Promise<T>): Promise<T | undefined> => fn(),
  };

  readonly agents = {
    getVersion: async (agentId: string, version: number): Promise<AgentVersion | undefined> =>
      agentId === this.agent.agentId && version === this.agent.version ? this.agent : undefined,
  };

  readonly chats = {
    listMessages: async (_chatId: number): Promise<MessageRecord[]> => [],
  };

  /** Steps of tool-using turns by item; a step is stored once per index, under the item's lease. */
  readonly storedSteps = new Map<number, TurnStep[]>();

  readonly steps = {
    append: async (fence: StepFence, step: NewTurnStep, now: number): Promise<boolean> => {
      const row = this.rows.get(fence.itemId);
      if (row?.leaseOwner !== fence.leaseOwner || row.item.attempt !== fence.attempt) return false;
      const steps = this.storedSteps.get(fence.itemId) ?? [];
      if (steps.some((s) => s.index === step.index)) return false;
      steps.push({ ...step, createdAt: now });
      this.storedSteps.set(fence.itemId, steps);
      return true;
    },
    list: async (itemId: number): Promise<TurnStep[]> =>
      [...(this.storedSteps.get(itemId) ?? [])].sort((a, b) => a.index - b.index),
  };
}
