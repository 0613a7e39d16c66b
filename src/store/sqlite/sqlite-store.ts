import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import {
  fairShares,
  n,
  toAgent,
  toAgentVersion,
  toBatch,
  toBatchItem,
  toChat,
  toClaimedItem,
  toMessage,
  toWorkspace,
} from "../rows.js";
import type {
  Agent,
  AgentPatch,
  AgentVersion,
  Batch,
  BatchItem,
  BatchListQuery,
  BatchStatus,
  BatchTransition,
  Chat,
  ClaimedItem,
  CommitReport,
  ItemListQuery,
  ItemOutcome,
  MessageRecord,
  NewAgent,
  NewBatch,
  NewBatchItem,
  Page,
  PageQuery,
  StateChangeResult,
  Store,
  Workspace,
} from "../types.js";
import { sqliteMigrations } from "./migrations.js";

type Row = Record<string, any>;

const AGENT_COLUMNS: Record<keyof AgentPatch, string> = {
  name: "name",
  description: "description",
  model: "model",
  systemPrompt: "system_prompt",
  temperature: "temperature",
  maxTokens: "max_tokens",
  settings: "settings",
};

/** The counter column that counts items of each status. */
const STATUS_COUNTER = {
  pending: "pending",
  processing: "processing",
  success: "succeeded",
  failed: "failed",
} as const;

/**
 * The embedded store: one SQLite file in WAL mode. better-sqlite3 is synchronous, so every
 * method runs its statements in one short transaction and resolves at once; `BEGIN IMMEDIATE`
 * takes the write lock up front so that two processes on one file wait instead of failing.
 */
export class SqliteStore implements Store {
  readonly dialect = "sqlite" as const;
  private readonly db: Database.Database;
  private readonly stmt = new Map<string, Database.Statement>();

  constructor(path: string) {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("busy_timeout = 10000");
    this.db.pragma("foreign_keys = ON");
  }

  /** Prepared statements are cached by their text. */
  private q(sql: string): Database.Statement {
    let s = this.stmt.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.stmt.set(sql, s);
    }
    return s;
  }

  private tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  async migrate(): Promise<void> {
    this.db.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    );
    const done = new Set(
      this.db
        .prepare("SELECT version FROM schema_migrations")
        .all()
        .map((r: any) => r.version),
    );
    for (const m of sqliteMigrations) {
      if (done.has(m.version)) continue;
      this.tx(() => {
        this.db.exec(m.sql);
        this.db
          .prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)")
          .run(m.version, Date.now());
      });
    }
  }

  async close(): Promise<void> {
    this.db.close();
  }

  // ---- workspaces and keys ----

  async ensureWorkspace(name: string): Promise<Workspace> {
    return this.tx(() => {
      const found = this.q("SELECT * FROM workspaces WHERE name = ?").get(name) as Row | undefined;
      if (found) return toWorkspace(found);
      const row = this.q("INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?) RETURNING *").get(
        crypto.randomUUID(),
        name,
        Date.now(),
      ) as Row;
      return toWorkspace(row);
    });
  }

  async addApiKey(workspaceId: string, keyHash: string, prefix: string): Promise<void> {
    this.q(
      "INSERT OR IGNORE INTO api_keys (key_hash, workspace_id, prefix, created_at) VALUES (?, ?, ?, ?)",
    ).run(keyHash, workspaceId, prefix, Date.now());
  }

  async findWorkspaceByKeyHash(keyHash: string): Promise<Workspace | undefined> {
    const row = this.q(
      "SELECT w.* FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id WHERE k.key_hash = ?",
    ).get(keyHash) as Row | undefined;
    return row ? toWorkspace(row) : undefined;
  }

  // ---- agents ----

  async createAgent(a: NewAgent, now: number): Promise<Agent> {
    const row = this.q(
      `INSERT INTO agents (id, workspace_id, name, description, model, system_prompt, temperature, max_tokens,
         settings, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
    ).get(
      a.id,
      a.workspaceId,
      a.name,
      a.description,
      a.model,
      a.systemPrompt,
      a.temperature,
      a.maxTokens,
      JSON.stringify(a.settings),
      now,
      now,
    ) as Row;
    return toAgent(row);
  }

  async getAgent(workspaceId: string, agentId: string): Promise<Agent | undefined> {
    const row = this.q("SELECT * FROM agents WHERE id = ? AND workspace_id = ?").get(agentId, workspaceId) as
      | Row
      | undefined;
    return row ? toAgent(row) : undefined;
  }

  async listAgents(workspaceId: string, page: PageQuery, publishedOnly = false): Promise<Page<Agent>> {
    const where = `workspace_id = ?${publishedOnly ? " AND published_version IS NOT NULL" : ""}`;
    const rows = this.q(
      `SELECT * FROM agents WHERE ${where} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
    ).all(workspaceId, page.limit, page.offset) as Row[];
    const total = (this.q(`SELECT COUNT(*) AS c FROM agents WHERE ${where}`).get(workspaceId) as Row).c;
    return { rows: rows.map(toAgent), total: n(total) };
  }

  async updateAgent(
    workspaceId: string,
    agentId: string,
    patch: AgentPatch,
    now: number,
  ): Promise<Agent | undefined> {
    const sets: string[] = [];
    const values: unknown[] = [];
    for (const [key, column] of Object.entries(AGENT_COLUMNS)) {
      const v = patch[key as keyof AgentPatch];
      if (v === undefined) continue;
      sets.push(`${column} = ?`);
      values.push(key === "settings" ? JSON.stringify(v) : v);
    }
    sets.push("updated_at = ?");
    values.push(now);
    const row = this.db
      .prepare(`UPDATE agents SET ${sets.join(", ")} WHERE id = ? AND workspace_id = ? RETURNING *`)
      .get(...values, agentId, workspaceId) as Row | undefined;
    return row ? toAgent(row) : undefined;
  }

  async publishAgent(workspaceId: string, agentId: string, now: number): Promise<Agent | undefined> {
    return this.tx(() => {
      const agent = this.q("SELECT * FROM agents WHERE id = ? AND workspace_id = ?").get(
        agentId,
        workspaceId,
      ) as Row | undefined;
      if (!agent) return undefined;
      const version = (agent.published_version ?? 0) + 1;
      this.q(
        `INSERT INTO agent_versions (agent_id, version, name, model, system_prompt, temperature, max_tokens, settings,
           created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        agentId,
        version,
        agent.name,
        agent.model,
        agent.system_prompt,
        agent.temperature,
        agent.max_tokens,
        agent.settings,
        now,
      );
      const row = this.q(
        "UPDATE agents SET published_version = ?, published_at = ?, updated_at = ? WHERE id = ? RETURNING *",
      ).get(version, now, now, agentId) as Row;
      return toAgent(row);
    });
  }

  async getAgentVersion(agentId: string, version: number): Promise<AgentVersion | undefined> {
    const row = this.q("SELECT * FROM agent_versions WHERE agent_id = ? AND version = ?").get(
      agentId,
      version,
    ) as Row | undefined;
    return row ? toAgentVersion(row) : undefined;
  }

  // ---- chats ----

  async getChat(workspaceId: string, chatId: number): Promise<Chat | undefined> {
    const row = this.q("SELECT * FROM chats WHERE id = ? AND workspace_id = ?").get(chatId, workspaceId) as
      | Row
      | undefined;
    return row ? toChat(row) : undefined;
  }

  async listMessages(chatId: number): Promise<MessageRecord[]> {
    return (this.q("SELECT * FROM messages WHERE chat_id = ? ORDER BY id").all(chatId) as Row[]).map(
      toMessage,
    );
  }

  // ---- batches ----

  async createBatch(b: NewBatch, items: NewBatchItem[]): Promise<Batch> {
    return this.tx(() => {
      const row = this.q(
        `INSERT INTO batches (id, workspace_id, agent_id, name, status, total, pending, webhook, metadata,
           created_at, expires_at) VALUES (?, ?, ?, ?, 'in_progress', ?, ?, ?, ?, ?, ?) RETURNING *`,
      ).get(
        b.id,
        b.workspaceId,
        b.agentId,
        b.name,
        items.length,
        items.length,
        b.webhook ? JSON.stringify(b.webhook) : null,
        b.metadata ? JSON.stringify(b.metadata) : null,
        b.createdAt,
        b.expiresAt,
      ) as Row;
      const insert = this.q(
        `INSERT INTO batch_items (batch_id, seq, custom_id, agent_id, agent_version, message, external_user_id, name,
           attached_file_uuids, history_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      items.forEach((it, seq) => {
        insert.run(
          b.id,
          seq,
          it.customId,
          it.agentId,
          it.agentVersion,
          it.message,
          it.externalUserId,
          it.name,
          it.attachedFileUuids.length > 0 ? JSON.stringify(it.attachedFileUuids) : null,
          it.historyId,
        );
      });
      return toBatch(row);
    });
  }

  async getBatch(workspaceId: string, batchId: string): Promise<Batch | undefined> {
    const row = this.q("SELECT * FROM batches WHERE id = ? AND workspace_id = ?").get(batchId, workspaceId) as
      | Row
      | undefined;
    return row ? toBatch(row) : undefined;
  }

  async listBatches(workspaceId: string, query: BatchListQuery): Promise<Page<Batch>> {
    const statuses = query.statuses ?? [];
    const filter = statuses.length > 0 ? ` AND status IN (${statuses.map(() => "?").join(", ")})` : "";
    const rows = this.db
      .prepare(
        `SELECT * FROM batches WHERE workspace_id = ?${filter} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
      )
      .all(workspaceId, ...statuses, query.limit, query.offset) as Row[];
    const total = (
      this.db
        .prepare(`SELECT COUNT(*) AS c FROM batches WHERE workspace_id = ?${filter}`)
        .get(workspaceId, ...statuses) as Row
    ).c;
    return { rows: rows.map(toBatch), total: n(total) };
  }

  async listItems(batchId: string, query: ItemListQuery): Promise<Page<BatchItem>> {
    const counters = this.q("SELECT * FROM batches WHERE id = ?").get(batchId) as Row | undefined;
    if (!counters) return { rows: [], total: 0 };
    let rows: Row[];
    if (query.status) {
      rows = this.q(
        "SELECT * FROM batch_items WHERE batch_id = ? AND status = ? ORDER BY seq LIMIT ? OFFSET ?",
      ).all(batchId, query.status, query.limit, query.offset) as Row[];
    } else {
      rows = this.q("SELECT * FROM batch_items WHERE batch_id = ? ORDER BY seq LIMIT ? OFFSET ?").all(
        batchId,
        query.limit,
        query.offset,
      ) as Row[];
    }
    // The batch counters move in the same transactions as the items, so they are exact counts.
    const total = query.status ? counters[STATUS_COUNTER[query.status]] : counters.total;
    return { rows: rows.map(toBatchItem), total: n(total) };
  }

  async cancelBatch(workspaceId: string, batchId: string, now: number): Promise<StateChangeResult> {
    return this.tx(() => {
      const row = this.q("SELECT * FROM batches WHERE id = ? AND workspace_id = ?").get(
        batchId,
        workspaceId,
      ) as Row | undefined;
      if (!row) return { kind: "not_found" as const };
      const status = row.status as BatchStatus;
      if (status === "cancelling" || status === "cancelled") {
        return { kind: "ok" as const, batch: toBatch(row), changed: false, transitions: [] };
      }
      if (status !== "in_progress" && status !== "paused")
        return { kind: "conflict" as const, batch: toBatch(row) };
      this.q("UPDATE batches SET status = 'cancelling' WHERE id = ?").run(batchId);
      const transitions: BatchTransition[] = [{ batchId, workspaceId, from: status, to: "cancelling" }];
      this.failPending(batchId, 499, "Batch was cancelled", now);
      const settled = this.settle(batchId, now);
      if (settled) transitions.push(settled);
      const batch = toBatch(this.q("SELECT * FROM batches WHERE id = ?").get(batchId) as Row);
      return { kind: "ok" as const, batch, changed: true, transitions };
    });
  }

  /** Fails every pending item of a batch at once with one code (cancel, expiry). */
  private failPending(batchId: string, code: number, message: string, now: number): number {
    const changed = this.q(
      `UPDATE batch_items SET status = 'failed', error_code = ?, error_message = ?, processed_at = ?
       WHERE batch_id = ? AND status = 'pending'`,
    ).run(code, message, now, batchId).changes;
    if (changed > 0) {
      this.q("UPDATE batches SET pending = pending - ?, failed = failed + ? WHERE id = ?").run(
        changed,
        changed,
        batchId,
      );
    }
    return changed;
  }

  /** Moves a batch to its final status once nothing of it is left to run. */
  private settle(batchId: string, now: number): BatchTransition | null {
    const b = this.q("SELECT workspace_id, status, pending, processing FROM batches WHERE id = ?").get(
      batchId,
    ) as Row;
    const from = b.status as BatchStatus;
    if ((from === "in_progress" || from === "paused") && b.pending === 0 && b.processing === 0) {
      this.q("UPDATE batches SET status = 'completed', completed_at = ? WHERE id = ?").run(now, batchId);
      return { batchId, workspaceId: b.workspace_id, from, to: "completed" };
    }
    if (from === "cancelling" && b.processing === 0) {
      this.q("UPDATE batches SET status = 'cancelled', cancelled_at = ? WHERE id = ?").run(now, batchId);
      return { batchId, workspaceId: b.workspace_id, from, to: "cancelled" };
    }
    return null;
  }

  // ---- engine ----

  async claimItems(owner: string, limit: number, leaseMs: number, now: number): Promise<ClaimedItem[]> {
    return this.tx(() => {
      const candidates = (
        this.q(
          `SELECT id, workspace_id, pending FROM batches WHERE status = 'in_progress' AND pending > 0
           ORDER BY last_claimed_at, created_at LIMIT 100`,
        ).all() as Row[]
      ).map((r) => ({ id: r.id as string, workspaceId: r.workspace_id as string, pending: n(r.pending) }));
      if (candidates.length === 0) return [];
      const shares = fairShares(candidates, limit);
      const claimed: ClaimedItem[] = [];
      const claim = this.q(
        `UPDATE batch_items SET status = 'processing', lease_owner = ?, lease_expires_at = ?, attempts = attempts + 1
         WHERE id IN (SELECT id FROM batch_items WHERE batch_id = ? AND status = 'pending' AND not_before <= ?
                      ORDER BY seq LIMIT ?)
         RETURNING *`,
      );
      const bump = this.q(
        `UPDATE batches SET pending = pending - ?, processing = processing + ?, last_claimed_at = ?,
           started_at = COALESCE(started_at, ?) WHERE id = ?`,
      );
      for (const c of candidates) {
        const share = shares.get(c.id) ?? 0;
        if (share === 0) continue;
        const rows = claim.all(owner, now + leaseMs, c.id, now, share) as Row[];
        bump.run(rows.length, rows.length, now, now, c.id);
        for (const r of rows) claimed.push(toClaimedItem(r, c.workspaceId));
      }
      return claimed;
    });
  }

  async renewLeases(owner: string, itemIds: number[], leaseExpiresAt: number): Promise<number[]> {
    if (itemIds.length === 0) return [];
    return this.tx(() => {
      const lost: number[] = [];
      const renew = this.q(
        "UPDATE batch_items SET lease_expires_at = ? WHERE id = ? AND lease_owner = ? AND status = 'processing'",
      );
      for (const id of itemIds) if (renew.run(leaseExpiresAt, id, owner).changes === 0) lost.push(id);
      return lost;
    });
  }

  async releaseItems(owner: string, items: { itemId: number; attempt: number }[]): Promise<void> {
    if (items.length === 0) return;
    this.tx(() => {
      const now = Date.now();
      const touched = new Set<string>();
      for (const it of items) {
        const row = this.q(
          `UPDATE batch_items SET status = 'pending', attempts = attempts - 1, lease_owner = NULL, lease_expires_at = NULL
           WHERE id = ? AND lease_owner = ? AND attempts = ? AND status = 'processing' RETURNING batch_id`,
        ).get(it.itemId, owner, it.attempt) as Row | undefined;
        if (!row) continue;
        this.q("UPDATE batches SET pending = pending + 1, processing = processing - 1 WHERE id = ?").run(
          row.batch_id,
        );
        touched.add(row.batch_id);
      }
      // A batch cancelled while these items waited fails them now, as it did its other pending items.
      for (const batchId of touched) {
        const status = (this.q("SELECT status FROM batches WHERE id = ?").get(batchId) as Row).status;
        if (status === "cancelling") {
          this.failPending(batchId, 499, "Batch was cancelled", now);
          this.settle(batchId, now);
        }
      }
    });
  }

  async commitOutcomes(outcomes: ItemOutcome[], now: number): Promise<CommitReport> {
    if (outcomes.length === 0) return { applied: 0, discarded: 0, transitions: [], touchedBatchIds: [] };
    return this.tx(() => this.applyOutcomes(outcomes, now));
  }

  private applyOutcomes(outcomes: ItemOutcome[], now: number): CommitReport {
    const batches = new Map<string, { status: BatchStatus; expiresAt: number }>();
    const batchOf = (id: string) => {
      let b = batches.get(id);
      if (!b) {
        const row = this.q("SELECT status, expires_at FROM batches WHERE id = ?").get(id) as Row;
        b = { status: row.status, expiresAt: n(row.expires_at) };
        batches.set(id, b);
      }
      return b;
    };
    let applied = 0;
    for (const o of outcomes) {
      if (this.applyOutcome(o, batchOf(o.batchId), now)) applied++;
    }
    const transitions: BatchTransition[] = [];
    for (const batchId of batches.keys()) {
      const t = this.settle(batchId, now);
      if (t) transitions.push(t);
    }
    return {
      applied,
      discarded: outcomes.length - applied,
      transitions,
      touchedBatchIds: [...batches.keys()],
    };
  }

  /** Writes one outcome if its worker still holds the item; returns false when fenced off. */
  private applyOutcome(
    o: ItemOutcome,
    batch: { status: BatchStatus; expiresAt: number },
    now: number,
  ): boolean {
    const fence = "WHERE id = ? AND lease_owner = ? AND attempts = ? AND status = 'processing'";
    if (o.kind === "success") {
      const ok = this.q(
        `UPDATE batch_items SET status = 'success', response_content = ?, response_usage = ?, error_code = NULL,
           error_message = NULL, processed_at = ?, lease_owner = NULL, lease_expires_at = NULL ${fence}`,
      ).run(
        o.responseContent,
        JSON.stringify(o.responseUsage),
        now,
        o.itemId,
        o.leaseOwner,
        o.attempt,
      ).changes;
      if (ok === 0) return false;
      const { chatId, groupId } = this.writeChatTurn(o, now);
      this.q("UPDATE batch_items SET chat_id = ?, conversation_id = ? WHERE id = ?").run(
        chatId,
        groupId,
        o.itemId,
      );
      this.q(
        `UPDATE batches SET processing = processing - 1, succeeded = succeeded + 1, prompt_tokens = prompt_tokens + ?,
           completion_tokens = completion_tokens + ?, cost = cost + ? WHERE id = ?`,
      ).run(o.promptTokens, o.completionTokens, o.cost, o.batchId);
      return true;
    }
    let final: { code: number; message: string } | null = null;
    if (o.kind === "failed") final = { code: o.errorCode, message: o.errorMessage };
    else if (batch.status === "cancelling" || batch.status === "cancelled")
      final = { code: 499, message: "Batch was cancelled" };
    else if (o.notBefore >= batch.expiresAt) {
      final = { code: 408, message: "Batch processing timed out before request was processed" };
    }
    if (final) {
      const ok = this.q(
        `UPDATE batch_items SET status = 'failed', error_code = ?, error_message = ?, processed_at = ?,
           lease_owner = NULL, lease_expires_at = NULL ${fence}`,
      ).run(final.code, final.message, now, o.itemId, o.leaseOwner, o.attempt).changes;
      if (ok === 0) return false;
      this.q("UPDATE batches SET processing = processing - 1, failed = failed + 1 WHERE id = ?").run(
        o.batchId,
      );
      return true;
    }
    const retry = o as Extract<ItemOutcome, { kind: "retry" }>;
    const ok = this.q(
      `UPDATE batch_items SET status = 'pending', not_before = ?, error_code = ?, error_message = ?,
         lease_owner = NULL, lease_expires_at = NULL ${fence}`,
    ).run(retry.notBefore, retry.errorCode, retry.errorMessage, o.itemId, o.leaseOwner, o.attempt).changes;
    if (ok === 0) return false;
    this.q("UPDATE batches SET processing = processing - 1, pending = pending + 1 WHERE id = ?").run(
      o.batchId,
    );
    return true;
  }

  /** Stores the question and the answer of a finished item as a chat turn; opens a chat if needed. */
  private writeChatTurn(
    o: Extract<ItemOutcome, { kind: "success" }>,
    now: number,
  ): { chatId: number; groupId: number } {
    let chatId = o.historyId;
    if (chatId === null) {
      chatId = n(
        (
          this.q(
            `INSERT INTO chats (workspace_id, agent_id, name, external_user_id, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
          ).get(o.workspaceId, o.agentId, o.chatName, o.externalUserId, now, now) as Row
        ).id,
      );
    } else {
      this.q("UPDATE chats SET updated_at = ? WHERE id = ?").run(now, chatId);
    }
    const groupId = n(
      (
        this.q(
          "INSERT INTO messages (chat_id, role, content, meta, created_at) VALUES (?, 'user', ?, ?, ?) RETURNING id",
        ).get(chatId, o.message, JSON.stringify({ batch_id: o.batchId }), now) as Row
      ).id,
    );
    const meta = {
      token_usage: {
        prompt_tokens: o.promptTokens,
        completion_tokens: o.completionTokens,
        total_tokens: o.promptTokens + o.completionTokens,
      },
      response_time_ms: o.responseTimeMs,
      batch_id: o.batchId,
    };
    this.q(
      "INSERT INTO messages (chat_id, group_id, role, content, meta, created_at) VALUES (?, ?, 'assistant', ?, ?, ?)",
    ).run(chatId, groupId, o.responseContent, JSON.stringify(meta), now);
    return { chatId, groupId };
  }

  async reapExpiredLeases(now: number, maxAttempts: number): Promise<CommitReport> {
    return this.tx(() => {
      const expired = this.q(
        `SELECT id, batch_id, lease_owner, attempts FROM batch_items
         WHERE status = 'processing' AND lease_expires_at < ? LIMIT 1000`,
      ).all(now) as Row[];
      const outcomes: ItemOutcome[] = expired.map((r) => {
        const base = {
          itemId: n(r.id),
          batchId: r.batch_id,
          leaseOwner: r.lease_owner,
          attempt: n(r.attempts),
        };
        return n(r.attempts) >= maxAttempts
          ? {
              ...base,
              kind: "failed",
              errorCode: 500,
              errorMessage: "The worker running this request stopped responding",
            }
          : {
              ...base,
              kind: "retry",
              notBefore: now,
              errorCode: 500,
              errorMessage: "Worker lease expired; retrying",
            };
      });
      return this.applyOutcomes(outcomes, now);
    });
  }

  async expireBatches(now: number): Promise<CommitReport> {
    return this.tx(() => {
      const due = this.q(
        "SELECT id, workspace_id FROM batches WHERE status IN ('in_progress', 'paused') AND expires_at <= ?",
      ).all(now) as Row[];
      const transitions: BatchTransition[] = [];
      let applied = 0;
      for (const b of due) {
        applied += this.failPending(
          b.id,
          408,
          "Batch processing timed out before request was processed",
          now,
        );
        const t = this.settle(b.id, now);
        if (t) transitions.push(t);
      }
      return { applied, discarded: 0, transitions, touchedBatchIds: due.map((b) => b.id as string) };
    });
  }
}
