import {
  fairShares,
  n,
  toAgent,
  toAgentVersion,
  toBatch,
  toBatchItem,
  toChat,
  toClaimedItem,
  toFile,
  toMessage,
  toWorkspace,
} from "./rows.js";
import type { Migration, Row, SqlDriver, SqlExecutor } from "./sql/driver.js";
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
  FileListQuery,
  FileRecord,
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
} from "./types.js";

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

const CANCELLED_MESSAGE = "Batch was cancelled";
const EXPIRED_MESSAGE = "Batch processing timed out before request was processed";

/** Most `?` parameters put in one IN list. */
const IN_CHUNK = 500;

function chunks<T>(list: T[], size = IN_CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

const marks = (k: number) => new Array(k).fill("?").join(", ");

/** Counter changes of one batch, gathered over a transaction and written once at its end. */
interface Delta {
  pending: number;
  processing: number;
  succeeded: number;
  failed: number;
  promptTokens: number;
  completionTokens: number;
  cost: number;
}

class Deltas {
  private readonly map = new Map<string, Delta>();

  of(batchId: string): Delta {
    let d = this.map.get(batchId);
    if (!d) {
      d = {
        pending: 0,
        processing: 0,
        succeeded: 0,
        failed: 0,
        promptTokens: 0,
        completionTokens: 0,
        cost: 0,
      };
      this.map.set(batchId, d);
    }
    return d;
  }

  /** Batch ids in a fixed order: every transaction locks batch rows in the same order (no deadlocks). */
  ids(): string[] {
    return [...this.map.keys()].sort();
  }

  async write(tx: SqlExecutor): Promise<void> {
    for (const id of this.ids()) {
      const d = this.map.get(id) as Delta;
      await tx.run(
        `UPDATE batches SET pending = pending + ?, processing = processing + ?, succeeded = succeeded + ?,
           failed = failed + ?, prompt_tokens = prompt_tokens + ?, completion_tokens = completion_tokens + ?,
           cost = cost + ? WHERE id = ?`,
        [d.pending, d.processing, d.succeeded, d.failed, d.promptTokens, d.completionTokens, d.cost, id],
      );
    }
  }
}

/**
 * The store, written once over a dialect driver (`sqlite/`, `postgres/`). Lock order in every
 * transaction: item rows first, then batch rows in id order; with that, concurrent claims,
 * commits, reaps and cancels on PostgreSQL cannot deadlock each other.
 */
export class SqlStore implements Store {
  readonly dialect: "sqlite" | "postgres";

  constructor(
    private readonly db: SqlDriver,
    private readonly migrations: Migration[],
  ) {
    this.dialect = db.dialect;
  }

  /** The driver, for dialect-specific parts (LISTEN/NOTIFY) that live beside the store. */
  get driver(): SqlDriver {
    return this.db;
  }

  async migrate(): Promise<void> {
    await this.db.migrate(this.migrations);
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  // ---- workspaces and keys ----

  async ensureWorkspace(name: string): Promise<Workspace> {
    await this.db.run(
      "INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
      [crypto.randomUUID(), name, Date.now()],
    );
    return toWorkspace((await this.db.get("SELECT * FROM workspaces WHERE name = ?", [name])) as Row);
  }

  async addApiKey(workspaceId: string, keyHash: string, prefix: string): Promise<void> {
    await this.db.run(
      "INSERT INTO api_keys (key_hash, workspace_id, prefix, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (key_hash) DO NOTHING",
      [keyHash, workspaceId, prefix, Date.now()],
    );
  }

  async findWorkspaceByKeyHash(keyHash: string): Promise<Workspace | undefined> {
    const row = await this.db.get(
      "SELECT w.* FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id WHERE k.key_hash = ?",
      [keyHash],
    );
    return row ? toWorkspace(row) : undefined;
  }

  // ---- agents ----

  async createAgent(a: NewAgent, now: number): Promise<Agent> {
    const row = await this.db.get(
      `INSERT INTO agents (id, workspace_id, name, description, model, system_prompt, temperature, max_tokens,
         settings, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
      [
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
      ],
    );
    return toAgent(row as Row);
  }

  async getAgent(workspaceId: string, agentId: string): Promise<Agent | undefined> {
    const row = await this.db.get("SELECT * FROM agents WHERE id = ? AND workspace_id = ?", [
      agentId,
      workspaceId,
    ]);
    return row ? toAgent(row) : undefined;
  }

  async listAgents(workspaceId: string, page: PageQuery, publishedOnly = false): Promise<Page<Agent>> {
    const where = `workspace_id = ?${publishedOnly ? " AND published_version IS NOT NULL" : ""}`;
    const rows = await this.db.all(
      `SELECT * FROM agents WHERE ${where} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
      [workspaceId, page.limit, page.offset],
    );
    const total = (await this.db.get(`SELECT COUNT(*) AS c FROM agents WHERE ${where}`, [
      workspaceId,
    ])) as Row;
    return { rows: rows.map(toAgent), total: n(total.c) };
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
    const row = await this.db.get(
      `UPDATE agents SET ${sets.join(", ")} WHERE id = ? AND workspace_id = ? RETURNING *`,
      [...values, agentId, workspaceId],
    );
    return row ? toAgent(row) : undefined;
  }

  async publishAgent(workspaceId: string, agentId: string, now: number): Promise<Agent | undefined> {
    return this.db.transaction(async (tx) => {
      // Taking the row lock first numbers concurrent publishes one after the other.
      const agent = await tx.get(
        `UPDATE agents SET published_version = COALESCE(published_version, 0) + 1, published_at = ?, updated_at = ?
         WHERE id = ? AND workspace_id = ? RETURNING *`,
        [now, now, agentId, workspaceId],
      );
      if (!agent) return undefined;
      await tx.run(
        `INSERT INTO agent_versions (agent_id, version, name, model, system_prompt, temperature, max_tokens, settings,
           created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          agentId,
          agent.published_version,
          agent.name,
          agent.model,
          agent.system_prompt,
          agent.temperature,
          agent.max_tokens,
          agent.settings,
          now,
        ],
      );
      return toAgent(agent);
    });
  }

  async getAgentVersion(agentId: string, version: number): Promise<AgentVersion | undefined> {
    const row = await this.db.get("SELECT * FROM agent_versions WHERE agent_id = ? AND version = ?", [
      agentId,
      version,
    ]);
    return row ? toAgentVersion(row) : undefined;
  }

  // ---- chats ----

  async getChat(workspaceId: string, chatId: number): Promise<Chat | undefined> {
    const row = await this.db.get("SELECT * FROM chats WHERE id = ? AND workspace_id = ?", [
      chatId,
      workspaceId,
    ]);
    return row ? toChat(row) : undefined;
  }

  async listMessages(chatId: number): Promise<MessageRecord[]> {
    return (await this.db.all("SELECT * FROM messages WHERE chat_id = ? ORDER BY id", [chatId])).map(
      toMessage,
    );
  }

  // ---- files ----

  async createFile(f: FileRecord): Promise<FileRecord> {
    const row = await this.db.get(
      `INSERT INTO files (id, workspace_id, purpose, scope, original_name, content_type, size, storage_path, meta, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
      [
        f.id,
        f.workspaceId,
        f.purpose,
        f.scope,
        f.originalName,
        f.contentType,
        f.size,
        f.storagePath,
        f.meta ? JSON.stringify(f.meta) : null,
        f.createdAt,
      ],
    );
    return toFile(row as Row);
  }

  async getFile(workspaceId: string, fileId: string): Promise<FileRecord | undefined> {
    const row = await this.db.get(
      "SELECT * FROM files WHERE id = ? AND workspace_id = ? AND deleted_at IS NULL",
      [fileId, workspaceId],
    );
    return row ? toFile(row) : undefined;
  }

  async listFiles(workspaceId: string, query: FileListQuery): Promise<Page<FileRecord>> {
    const filter = query.purpose ? " AND purpose = ?" : "";
    const params = query.purpose ? [workspaceId, query.purpose] : [workspaceId];
    const rows = await this.db.all(
      `SELECT * FROM files WHERE workspace_id = ? AND deleted_at IS NULL${filter}
       ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
      [...params, query.limit, query.offset],
    );
    const total = (await this.db.get(
      `SELECT COUNT(*) AS c FROM files WHERE workspace_id = ? AND deleted_at IS NULL${filter}`,
      params,
    )) as Row;
    return { rows: rows.map(toFile), total: n(total.c) };
  }

  async deleteFile(workspaceId: string, fileId: string, now: number): Promise<FileRecord | undefined> {
    const row = await this.db.get(
      "UPDATE files SET deleted_at = ? WHERE id = ? AND workspace_id = ? AND deleted_at IS NULL RETURNING *",
      [now, fileId, workspaceId],
    );
    return row ? toFile(row) : undefined;
  }

  // ---- batches ----

  async createBatch(b: NewBatch, items: NewBatchItem[]): Promise<Batch> {
    return this.db.transaction(async (tx) => {
      const row = await tx.get(
        `INSERT INTO batches (id, workspace_id, agent_id, name, status, total, pending, webhook, metadata,
           created_at, expires_at) VALUES (?, ?, ?, ?, 'in_progress', ?, ?, ?, ?, ?, ?) RETURNING *`,
        [
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
        ],
      );
      await this.insertItems(tx, b.id, items, 0);
      return toBatch(row as Row);
    });
  }

  /** Multi-row inserts: one statement per 100 items instead of one per item. */
  private async insertItems(
    tx: SqlExecutor,
    batchId: string,
    items: NewBatchItem[],
    firstSeq: number,
  ): Promise<void> {
    const columns =
      "(batch_id, seq, custom_id, agent_id, agent_version, message, external_user_id, name, attached_file_uuids, history_id)";
    for (let start = 0; start < items.length; start += 100) {
      const group = items.slice(start, start + 100);
      const params: unknown[] = [];
      group.forEach((it, i) => {
        params.push(
          batchId,
          firstSeq + start + i,
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
      await tx.run(
        `INSERT INTO batch_items ${columns} VALUES ${group.map(() => `(${marks(10)})`).join(", ")}`,
        params,
      );
    }
  }

  async getBatch(workspaceId: string, batchId: string): Promise<Batch | undefined> {
    const row = await this.db.get("SELECT * FROM batches WHERE id = ? AND workspace_id = ?", [
      batchId,
      workspaceId,
    ]);
    return row ? toBatch(row) : undefined;
  }

  async listBatches(workspaceId: string, query: BatchListQuery): Promise<Page<Batch>> {
    const statuses = query.statuses ?? [];
    const filter = statuses.length > 0 ? ` AND status IN (${marks(statuses.length)})` : "";
    const rows = await this.db.all(
      `SELECT * FROM batches WHERE workspace_id = ?${filter} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
      [workspaceId, ...statuses, query.limit, query.offset],
    );
    const total = (await this.db.get(`SELECT COUNT(*) AS c FROM batches WHERE workspace_id = ?${filter}`, [
      workspaceId,
      ...statuses,
    ])) as Row;
    return { rows: rows.map(toBatch), total: n(total.c) };
  }

  async listItems(batchId: string, query: ItemListQuery): Promise<Page<BatchItem>> {
    const counters = await this.db.get("SELECT * FROM batches WHERE id = ?", [batchId]);
    if (!counters) return { rows: [], total: 0 };
    const rows = query.status
      ? await this.db.all(
          "SELECT * FROM batch_items WHERE batch_id = ? AND status = ? ORDER BY seq LIMIT ? OFFSET ?",
          [batchId, query.status, query.limit, query.offset],
        )
      : await this.db.all("SELECT * FROM batch_items WHERE batch_id = ? ORDER BY seq LIMIT ? OFFSET ?", [
          batchId,
          query.limit,
          query.offset,
        ]);
    // The batch counters move in the same transactions as the items, so they are exact counts.
    const total = query.status ? counters[STATUS_COUNTER[query.status]] : counters.total;
    return { rows: rows.map(toBatchItem), total: n(total) };
  }

  async cancelBatch(workspaceId: string, batchId: string, now: number): Promise<StateChangeResult> {
    return this.db.transaction(async (tx) => {
      const row = await tx.get("SELECT * FROM batches WHERE id = ? AND workspace_id = ?", [
        batchId,
        workspaceId,
      ]);
      if (!row) return { kind: "not_found" as const };
      const status = row.status as BatchStatus;
      if (status === "cancelling" || status === "cancelled") {
        return { kind: "ok" as const, batch: toBatch(row), changed: false, transitions: [] };
      }
      if (status !== "in_progress" && status !== "paused")
        return { kind: "conflict" as const, batch: toBatch(row) };
      // Items first, then the batch row (the lock order of every transaction).
      const deltas = new Deltas();
      await this.failPending(tx, batchId, 499, CANCELLED_MESSAGE, now, deltas);
      const moved = await tx.run(
        "UPDATE batches SET status = 'cancelling' WHERE id = ? AND status IN ('in_progress', 'paused')",
        [batchId],
      );
      if (moved === 0) {
        // Another transaction changed the status in between: report what it is now.
        await deltas.write(tx);
        const now2 = toBatch((await tx.get("SELECT * FROM batches WHERE id = ?", [batchId])) as Row);
        return { kind: "ok" as const, batch: now2, changed: false, transitions: [] };
      }
      await deltas.write(tx);
      const transitions: BatchTransition[] = [{ batchId, workspaceId, from: status, to: "cancelling" }];
      const settled = await this.settle(tx, batchId, now);
      if (settled) transitions.push(settled);
      const batch = toBatch((await tx.get("SELECT * FROM batches WHERE id = ?", [batchId])) as Row);
      return { kind: "ok" as const, batch, changed: true, transitions };
    });
  }

  /** Fails every pending item of a batch at once with one code (cancel, expiry). */
  private async failPending(
    tx: SqlExecutor,
    batchId: string,
    code: number,
    message: string,
    now: number,
    deltas: Deltas,
  ): Promise<number> {
    const changed = await tx.run(
      `UPDATE batch_items SET status = 'failed', error_code = ?, error_message = ?, processed_at = ?
       WHERE batch_id = ? AND status = 'pending'`,
      [code, message, now, batchId],
    );
    const d = deltas.of(batchId);
    d.pending -= changed;
    d.failed += changed;
    return changed;
  }

  /** Moves a batch to its final status once nothing of it is left to run. */
  private async settle(tx: SqlExecutor, batchId: string, now: number): Promise<BatchTransition | null> {
    const b = (await tx.get("SELECT workspace_id, status, pending, processing FROM batches WHERE id = ?", [
      batchId,
    ])) as Row;
    const from = b.status as BatchStatus;
    if ((from === "in_progress" || from === "paused") && n(b.pending) === 0 && n(b.processing) === 0) {
      await tx.run("UPDATE batches SET status = 'completed', completed_at = ? WHERE id = ?", [now, batchId]);
      return { batchId, workspaceId: b.workspace_id, from, to: "completed" };
    }
    if (from === "cancelling" && n(b.processing) === 0) {
      await tx.run("UPDATE batches SET status = 'cancelled', cancelled_at = ? WHERE id = ?", [now, batchId]);
      return { batchId, workspaceId: b.workspace_id, from, to: "cancelled" };
    }
    return null;
  }

  private async settleAll(tx: SqlExecutor, deltas: Deltas, now: number): Promise<BatchTransition[]> {
    const transitions: BatchTransition[] = [];
    for (const id of deltas.ids()) {
      const t = await this.settle(tx, id, now);
      if (t) transitions.push(t);
    }
    return transitions;
  }

  // ---- engine ----

  async claimItems(owner: string, limit: number, leaseMs: number, now: number): Promise<ClaimedItem[]> {
    const candidates = (
      await this.db.all(
        `SELECT id, workspace_id, pending FROM batches WHERE status = 'in_progress' AND pending > 0
         ORDER BY last_claimed_at, created_at LIMIT 100`,
      )
    ).map((r) => ({ id: r.id as string, workspaceId: r.workspace_id as string, pending: n(r.pending) }));
    if (candidates.length === 0) return [];
    const shares = fairShares(candidates, limit);
    const workspaceOf = new Map(candidates.map((c) => [c.id, c.workspaceId]));
    const skipLocked = this.dialect === "postgres" ? " FOR UPDATE OF i SKIP LOCKED" : "";
    return this.db.transaction(async (tx) => {
      const claimed: ClaimedItem[] = [];
      const deltas = new Deltas();
      for (const batchId of [...shares.keys()].sort()) {
        // A batch paused or cancelled since the candidate read gives nothing: the status is checked here.
        const rows = await tx.all(
          `UPDATE batch_items SET status = 'processing', lease_owner = ?, lease_expires_at = ?, attempts = attempts + 1
           WHERE id IN (SELECT i.id FROM batch_items i JOIN batches b ON b.id = i.batch_id
                        WHERE i.batch_id = ? AND i.status = 'pending' AND i.not_before <= ? AND b.status = 'in_progress'
                        ORDER BY i.seq LIMIT ?${skipLocked})
           RETURNING *`,
          [owner, now + leaseMs, batchId, now, shares.get(batchId)],
        );
        const d = deltas.of(batchId);
        d.pending -= rows.length;
        d.processing += rows.length;
        for (const r of rows) claimed.push(toClaimedItem(r, workspaceOf.get(batchId) as string));
      }
      await deltas.write(tx);
      const ids = deltas.ids();
      for (const group of chunks(ids)) {
        await tx.run(
          `UPDATE batches SET last_claimed_at = ?, started_at = COALESCE(started_at, ?) WHERE id IN (${marks(group.length)})`,
          [now, now, ...group],
        );
      }
      return claimed;
    });
  }

  async renewLeases(owner: string, itemIds: number[], leaseExpiresAt: number): Promise<number[]> {
    const held = new Set<number>();
    for (const group of chunks(itemIds)) {
      const rows = await this.db.all(
        `UPDATE batch_items SET lease_expires_at = ?
         WHERE lease_owner = ? AND status = 'processing' AND id IN (${marks(group.length)}) RETURNING id`,
        [leaseExpiresAt, owner, ...group],
      );
      for (const r of rows) held.add(n(r.id));
    }
    return itemIds.filter((id) => !held.has(id));
  }

  async releaseItems(owner: string, items: { itemId: number; attempt: number }[]): Promise<void> {
    if (items.length === 0) return;
    await this.db.transaction(async (tx) => {
      const now = Date.now();
      const deltas = new Deltas();
      for (const it of items) {
        const row = await tx.get(
          `UPDATE batch_items SET status = 'pending', attempts = attempts - 1, lease_owner = NULL, lease_expires_at = NULL
           WHERE id = ? AND lease_owner = ? AND attempts = ? AND status = 'processing' RETURNING batch_id`,
          [it.itemId, owner, it.attempt],
        );
        if (!row) continue;
        const d = deltas.of(row.batch_id);
        d.pending += 1;
        d.processing -= 1;
      }
      // A batch cancelled while these items waited fails them now, as it did its other pending items.
      for (const batchId of deltas.ids()) {
        const status = ((await tx.get("SELECT status FROM batches WHERE id = ?", [batchId])) as Row).status;
        if (status === "cancelling") await this.failPending(tx, batchId, 499, CANCELLED_MESSAGE, now, deltas);
      }
      await deltas.write(tx);
      await this.settleAll(tx, deltas, now);
    });
  }

  async commitOutcomes(outcomes: ItemOutcome[], now: number): Promise<CommitReport> {
    if (outcomes.length === 0) return { applied: 0, discarded: 0, transitions: [], touchedBatchIds: [] };
    return this.db.transaction((tx) => this.applyOutcomes(tx, outcomes, now));
  }

  private async applyOutcomes(tx: SqlExecutor, outcomes: ItemOutcome[], now: number): Promise<CommitReport> {
    const batches = new Map<string, { status: BatchStatus; expiresAt: number }>();
    for (const group of chunks([...new Set(outcomes.map((o) => o.batchId))])) {
      const rows = await tx.all(
        `SELECT id, status, expires_at FROM batches WHERE id IN (${marks(group.length)})`,
        group,
      );
      for (const r of rows) batches.set(r.id, { status: r.status, expiresAt: n(r.expires_at) });
    }
    const deltas = new Deltas();
    let applied = 0;
    for (const o of outcomes) {
      const batch = batches.get(o.batchId);
      if (batch && (await this.applyOutcome(tx, o, batch, now, deltas))) applied++;
    }
    await deltas.write(tx);
    const transitions = await this.settleAll(tx, deltas, now);
    return { applied, discarded: outcomes.length - applied, transitions, touchedBatchIds: deltas.ids() };
  }

  /** Writes one outcome if its worker still holds the item; returns false when fenced off. */
  private async applyOutcome(
    tx: SqlExecutor,
    o: ItemOutcome,
    batch: { status: BatchStatus; expiresAt: number },
    now: number,
    deltas: Deltas,
  ): Promise<boolean> {
    const fence = "WHERE id = ? AND lease_owner = ? AND attempts = ? AND status = 'processing'";
    const fenceParams = [o.itemId, o.leaseOwner, o.attempt];
    if (o.kind === "success") {
      const ok = await tx.run(
        `UPDATE batch_items SET status = 'success', response_content = ?, response_usage = ?, error_code = NULL,
           error_message = NULL, processed_at = ?, lease_owner = NULL, lease_expires_at = NULL ${fence}`,
        [o.responseContent, JSON.stringify(o.responseUsage), now, ...fenceParams],
      );
      if (ok === 0) return false;
      const { chatId, groupId } = await this.writeChatTurn(tx, o, now);
      await tx.run("UPDATE batch_items SET chat_id = ?, conversation_id = ? WHERE id = ?", [
        chatId,
        groupId,
        o.itemId,
      ]);
      const d = deltas.of(o.batchId);
      d.processing -= 1;
      d.succeeded += 1;
      d.promptTokens += o.promptTokens;
      d.completionTokens += o.completionTokens;
      d.cost += o.cost;
      return true;
    }
    let final: { code: number; message: string } | null = null;
    if (o.kind === "failed") final = { code: o.errorCode, message: o.errorMessage };
    else if (batch.status === "cancelling" || batch.status === "cancelled")
      final = { code: 499, message: CANCELLED_MESSAGE };
    else if (o.notBefore >= batch.expiresAt) final = { code: 408, message: EXPIRED_MESSAGE };
    const d = deltas.of(o.batchId);
    if (final) {
      const ok = await tx.run(
        `UPDATE batch_items SET status = 'failed', error_code = ?, error_message = ?, processed_at = ?,
           lease_owner = NULL, lease_expires_at = NULL ${fence}`,
        [final.code, final.message, now, ...fenceParams],
      );
      if (ok === 0) return false;
      d.processing -= 1;
      d.failed += 1;
      return true;
    }
    const retry = o as Extract<ItemOutcome, { kind: "retry" }>;
    const ok = await tx.run(
      `UPDATE batch_items SET status = 'pending', not_before = ?, error_code = ?, error_message = ?,
         lease_owner = NULL, lease_expires_at = NULL ${fence}`,
      [retry.notBefore, retry.errorCode, retry.errorMessage, ...fenceParams],
    );
    if (ok === 0) return false;
    d.processing -= 1;
    d.pending += 1;
    return true;
  }

  /** Stores the question and the answer of a finished item as a chat turn; opens a chat if needed. */
  private async writeChatTurn(
    tx: SqlExecutor,
    o: Extract<ItemOutcome, { kind: "success" }>,
    now: number,
  ): Promise<{ chatId: number; groupId: number }> {
    let chatId = o.historyId;
    if (chatId === null) {
      const chat = (await tx.get(
        `INSERT INTO chats (workspace_id, agent_id, name, external_user_id, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
        [o.workspaceId, o.agentId, o.chatName, o.externalUserId, now, now],
      )) as Row;
      chatId = n(chat.id);
    } else {
      await tx.run("UPDATE chats SET updated_at = ? WHERE id = ?", [now, chatId]);
    }
    const question = (await tx.get(
      "INSERT INTO messages (chat_id, role, content, meta, created_at) VALUES (?, 'user', ?, ?, ?) RETURNING id",
      [chatId, o.message, JSON.stringify({ batch_id: o.batchId }), now],
    )) as Row;
    const groupId = n(question.id);
    const meta = {
      token_usage: {
        prompt_tokens: o.promptTokens,
        completion_tokens: o.completionTokens,
        total_tokens: o.promptTokens + o.completionTokens,
      },
      response_time_ms: o.responseTimeMs,
      batch_id: o.batchId,
    };
    await tx.run(
      "INSERT INTO messages (chat_id, group_id, role, content, meta, created_at) VALUES (?, ?, 'assistant', ?, ?, ?)",
      [chatId, groupId, o.responseContent, JSON.stringify(meta), now],
    );
    return { chatId, groupId };
  }

  async reapExpiredLeases(now: number, maxAttempts: number): Promise<CommitReport> {
    return this.db.transaction(async (tx) => {
      const expired = await tx.all(
        `SELECT id, batch_id, lease_owner, attempts FROM batch_items
         WHERE status = 'processing' AND lease_expires_at < ? LIMIT 1000`,
        [now],
      );
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
      return this.applyOutcomes(tx, outcomes, now);
    });
  }

  async expireBatches(now: number): Promise<CommitReport> {
    const due = await this.db.all(
      "SELECT id FROM batches WHERE status IN ('in_progress', 'paused') AND expires_at <= ?",
      [now],
    );
    if (due.length === 0) return { applied: 0, discarded: 0, transitions: [], touchedBatchIds: [] };
    return this.db.transaction(async (tx) => {
      const deltas = new Deltas();
      let applied = 0;
      for (const b of due) applied += await this.failPending(tx, b.id, 408, EXPIRED_MESSAGE, now, deltas);
      await deltas.write(tx);
      const transitions = await this.settleAll(tx, deltas, now);
      return { applied, discarded: 0, transitions, touchedBatchIds: deltas.ids() };
    });
  }
}
