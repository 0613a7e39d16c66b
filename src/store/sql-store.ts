import { TERMINAL_BATCH_STATUSES } from "../domain/statuses.js";
import { type ApiBatchStore, SqlApiBatchStore } from "./api-batches.js";
import { replyMeta } from "./chat-turns.js";
import {
  fairShares,
  json,
  n,
  toAgent,
  toAgentVersion,
  toBatch,
  toBatchItem,
  toChat,
  toClaimedItem,
  toFeedback,
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
  ChatListQuery,
  ChatOrder,
  ChatTurnRecord,
  ClaimedItem,
  CommitReport,
  CreateBatchResult,
  FileListQuery,
  FileRecord,
  IngestEntry,
  IngestLookups,
  IngestOptions,
  ItemListQuery,
  ItemOutcome,
  ItemStatus,
  MessageFeedback,
  MessageFile,
  MessageRecord,
  MetricsSnapshot,
  NewAgent,
  NewBatch,
  NewBatchItem,
  NewChat,
  NewFeedback,
  Page,
  PageQuery,
  RowError,
  StateChangeResult,
  StatusMap,
  Store,
  StoredChatTurn,
  WebhookDeliveryStatus,
  WebhookOutbox,
  WhitelistEntry,
  Workspace,
} from "./types.js";
import {
  enqueueBatchEvent,
  enqueueItemEvent,
  type OutboxBatch,
  outboxBatch,
  SqlWebhookOutbox,
  wantsItemEvents,
} from "./webhook-outbox.js";

const CHAT_ORDER: Record<ChatOrder, string> = {
  created_at: "created_at, id",
  "-created_at": "created_at DESC, id DESC",
  updated_at: "updated_at, id",
  "-updated_at": "updated_at DESC, id DESC",
};

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

/** Items per multi-row INSERT while ingesting an input file. */
const INGEST_GROUP = 500;

/** Thrown inside a transaction to roll it back and return `result` instead. */
class Rollback extends Error {
  constructor(readonly result: CreateBatchResult) {
    super("rollback");
  }
}

function chunks<T>(list: T[], size = IN_CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

const marks = (k: number) => new Array(k).fill("?").join(", ");

/** What an outcome's transaction needs to know about its batch. */
type OutcomeBatch = OutboxBatch & { status: BatchStatus; expiresAt: number };

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

  readonly webhooks: WebhookOutbox;

  /** Batches of the OpenAI / Anthropic batch API shapes (api-batches.ts). */
  readonly apiBatches: ApiBatchStore;

  constructor(
    private readonly db: SqlDriver,
    private readonly migrations: Migration[],
  ) {
    this.dialect = db.dialect;
    this.webhooks = new SqlWebhookOutbox(db);
    this.apiBatches = new SqlApiBatchStore(
      db,
      (tx, batchId, group) => this.insertItemGroup(tx, batchId, group),
      (tx, file) => this.insertFile(tx, file),
    );
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

  async getWorkspace(workspaceId: string): Promise<Workspace | undefined> {
    const row = await this.db.get("SELECT * FROM workspaces WHERE id = ?", [workspaceId]);
    return row ? toWorkspace(row) : undefined;
  }

  async setWhitelistEnabled(workspaceId: string, enabled: boolean): Promise<Workspace | undefined> {
    const row = await this.db.get("UPDATE workspaces SET whitelist_enabled = ? WHERE id = ? RETURNING *", [
      enabled ? 1 : 0,
      workspaceId,
    ]);
    return row ? toWorkspace(row) : undefined;
  }

  async addWhitelistUsers(workspaceId: string, externalUserIds: string[], now: number): Promise<number> {
    const unique = [...new Set(externalUserIds)];
    if (unique.length === 0) return 0;
    return this.db.transaction(async (tx) => {
      let added = 0;
      for (const group of chunks(unique, 300)) {
        const params = group.flatMap((id) => [workspaceId, id, now]);
        added += await tx.run(
          `INSERT INTO whitelist_users (workspace_id, external_user_id, created_at)
           VALUES ${group.map(() => "(?, ?, ?)").join(", ")} ON CONFLICT (workspace_id, external_user_id) DO NOTHING`,
          params,
        );
      }
      return added;
    });
  }

  async removeWhitelistUser(workspaceId: string, externalUserId: string): Promise<boolean> {
    const removed = await this.db.run(
      "DELETE FROM whitelist_users WHERE workspace_id = ? AND external_user_id = ?",
      [workspaceId, externalUserId],
    );
    return removed > 0;
  }

  async listWhitelistUsers(workspaceId: string, page: PageQuery): Promise<Page<WhitelistEntry>> {
    const rows = await this.db.all(
      `SELECT external_user_id, created_at FROM whitelist_users WHERE workspace_id = ?
       ORDER BY created_at, external_user_id LIMIT ? OFFSET ?`,
      [workspaceId, page.limit, page.offset],
    );
    const total = (await this.db.get("SELECT COUNT(*) AS c FROM whitelist_users WHERE workspace_id = ?", [
      workspaceId,
    ])) as Row;
    return {
      rows: rows.map((r) => ({ externalUserId: r.external_user_id, createdAt: n(r.created_at) })),
      total: n(total.c),
    };
  }

  async whitelistedAmong(workspaceId: string, externalUserIds: string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (const group of chunks([...new Set(externalUserIds)])) {
      const rows = await this.db.all(
        `SELECT external_user_id FROM whitelist_users WHERE workspace_id = ? AND external_user_id IN (${marks(group.length)})`,
        [workspaceId, ...group],
      );
      for (const r of rows) found.add(r.external_user_id);
    }
    return found;
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

  async createChat(c: NewChat, now: number): Promise<Chat> {
    const row = await this.db.get(
      `INSERT INTO chats (workspace_id, agent_id, name, external_user_id, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?) RETURNING *`,
      [c.workspaceId, c.agentId, c.name, c.externalUserId, now, now],
    );
    return toChat(row as Row);
  }

  async renameChat(
    workspaceId: string,
    chatId: number,
    name: string,
    now: number,
  ): Promise<Chat | undefined> {
    const row = await this.db.get(
      "UPDATE chats SET name = ?, updated_at = ? WHERE id = ? AND workspace_id = ? RETURNING *",
      [name, now, chatId, workspaceId],
    );
    return row ? toChat(row) : undefined;
  }

  async listChats(workspaceId: string, query: ChatListQuery): Promise<Page<Chat>> {
    let where = "workspace_id = ?";
    const params: unknown[] = [workspaceId];
    if (query.agentId !== undefined) {
      where += " AND agent_id = ?";
      params.push(query.agentId);
    }
    if (query.externalUserId !== undefined) {
      where += " AND external_user_id = ?";
      params.push(query.externalUserId);
    }
    const rows = await this.db.all(
      `SELECT * FROM chats WHERE ${where} ORDER BY ${CHAT_ORDER[query.orderBy]} LIMIT ? OFFSET ?`,
      [...params, query.limit, query.offset],
    );
    const total = (await this.db.get(`SELECT COUNT(*) AS c FROM chats WHERE ${where}`, params)) as Row;
    return { rows: rows.map(toChat), total: n(total.c) };
  }

  async appendChatTurn(turn: ChatTurnRecord, now: number): Promise<StoredChatTurn> {
    return this.db.transaction((tx) => this.insertChatTurn(tx, turn, now));
  }

  async getMessage(chatId: number, messageId: number): Promise<MessageRecord | undefined> {
    const row = await this.db.get("SELECT * FROM messages WHERE id = ? AND chat_id = ?", [messageId, chatId]);
    return row ? toMessage(row) : undefined;
  }

  async listMessageFiles(chatId: number): Promise<MessageFile[]> {
    const rows = await this.db.all(
      `SELECT mf.message_id AS attached_to, f.* FROM message_files mf
       JOIN messages m ON m.id = mf.message_id JOIN files f ON f.id = mf.file_id
       WHERE m.chat_id = ? AND f.deleted_at IS NULL ORDER BY mf.message_id, mf.position`,
      [chatId],
    );
    return rows.map((r) => ({ messageId: n(r.attached_to), file: toFile(r) }));
  }

  async addFeedback(f: NewFeedback, now: number): Promise<MessageFeedback> {
    const row = await this.db.get(
      `INSERT INTO message_feedbacks (message_id, chat_id, rating, comment, external_user_id, created_at)
       VALUES (?, ?, ?, ?, ?, ?) RETURNING *`,
      [f.messageId, f.chatId, f.rating, f.comment, f.externalUserId, now],
    );
    return toFeedback(row as Row);
  }

  async listFeedbacks(chatId: number): Promise<MessageFeedback[]> {
    return (await this.db.all("SELECT * FROM message_feedbacks WHERE chat_id = ? ORDER BY id", [chatId])).map(
      toFeedback,
    );
  }

  // ---- files ----

  async createFile(f: FileRecord): Promise<FileRecord> {
    return this.insertFile(this.db, f);
  }

  private async insertFile(exec: SqlExecutor, f: FileRecord): Promise<FileRecord> {
    const row = await exec.get(
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

  async getFiles(workspaceId: string, fileIds: string[]): Promise<FileRecord[]> {
    const files: FileRecord[] = [];
    for (const group of chunks([...new Set(fileIds)])) {
      const rows = await this.db.all(
        `SELECT * FROM files WHERE workspace_id = ? AND deleted_at IS NULL AND id IN (${marks(group.length)})`,
        [workspaceId, ...group],
      );
      for (const r of rows) files.push(toFile(r));
    }
    return files;
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
    for (let start = 0; start < items.length; start += 100) {
      const group = items.slice(start, start + 100).map((item, i) => ({ seq: firstSeq + start + i, item }));
      await this.insertItemGroup(tx, batchId, group);
    }
  }

  /**
   * One multi-row INSERT. A row whose custom_id the batch already has is skipped by the
   * UNIQUE (batch_id, custom_id) constraint; returns the seqs actually inserted.
   */
  private async insertItemGroup(
    tx: SqlExecutor,
    batchId: string,
    group: { seq: number; item: NewBatchItem }[],
  ): Promise<Set<number>> {
    const columns =
      "(batch_id, seq, custom_id, agent_id, agent_version, message, external_user_id, name, attached_file_uuids, history_id, context, metadata, webhook, request_json)";
    const params: unknown[] = [];
    for (const { seq, item: it } of group) {
      params.push(
        batchId,
        seq,
        it.customId,
        it.agentId,
        it.agentVersion,
        it.message,
        it.externalUserId,
        it.name,
        it.attachedFileUuids.length > 0 ? JSON.stringify(it.attachedFileUuids) : null,
        it.historyId,
        it.context ? JSON.stringify(it.context) : null,
        it.metadata ? JSON.stringify(it.metadata) : null,
        it.webhook ? JSON.stringify(it.webhook) : null,
        it.request ? JSON.stringify(it.request) : null,
      );
    }
    const rows = await tx.all(
      `INSERT INTO batch_items ${columns} VALUES ${group.map(() => `(${marks(14)})`).join(", ")}
       ON CONFLICT (batch_id, custom_id) DO NOTHING RETURNING seq`,
      params,
    );
    const inserted = new Set(rows.map((r) => n(r.seq)));
    const withWebhook = group.filter((g) => g.item.webhook && inserted.has(g.seq)).length;
    if (withWebhook > 0) {
      await tx.run("UPDATE batches SET item_webhooks = item_webhooks + ? WHERE id = ?", [
        withWebhook,
        batchId,
      ]);
    }
    return inserted;
  }

  // ---- batch ingest, control and export ----

  async ingestBatch(
    b: NewBatch,
    entries: (lookups: IngestLookups) => AsyncIterable<IngestEntry>,
    options: IngestOptions,
  ): Promise<CreateBatchResult> {
    try {
      return await this.db.transaction(async (tx) => {
        const earlier = await this.claimBatchIdentity(tx, b, options.idempotencyKey);
        if (earlier) throw new Rollback(earlier);
        const lookups: IngestLookups = {
          getAgent: async (workspaceId, agentId) => {
            const row = await tx.get("SELECT * FROM agents WHERE id = ? AND workspace_id = ?", [
              agentId,
              workspaceId,
            ]);
            return row ? toAgent(row) : undefined;
          },
          chatExists: async (workspaceId, chatId) =>
            Boolean(
              await tx.get("SELECT id FROM chats WHERE id = ? AND workspace_id = ?", [chatId, workspaceId]),
            ),
          isWhitelisted: async (workspaceId, externalUserId) =>
            Boolean(
              await tx.get(
                "SELECT 1 AS ok FROM whitelist_users WHERE workspace_id = ? AND external_user_id = ?",
                [workspaceId, externalUserId],
              ),
            ),
        };
        // Rows are stored even after a row error (so later duplicates are found too); with
        // `fail` the savepoint takes them all back at the end.
        await tx.run("SAVEPOINT ingest");
        const errors: RowError[] = [];
        let errorCount = 0;
        const report = (row: number, error: string) => {
          errorCount++;
          if (errors.length < options.maxReportedErrors) errors.push({ row, error });
        };
        let rows = 0;
        let inserted = 0;
        let nextSeq = 0;
        let group: { seq: number; row: number; item: NewBatchItem }[] = [];
        const flush = async () => {
          if (group.length === 0) return;
          const stored = await this.insertItemGroup(tx, b.id, group);
          inserted += stored.size;
          for (const g of group) {
            if (!stored.has(g.seq)) {
              report(
                g.row,
                `custom_id: "${g.item.customId}" is used by an earlier row; custom_id must be unique within the batch`,
              );
            }
          }
          group = [];
        };
        for await (const entry of entries(lookups)) {
          rows++;
          if ("error" in entry) {
            report(entry.row, entry.error);
            continue;
          }
          group.push({ seq: nextSeq++, row: entry.row, item: entry.item });
          if (group.length >= INGEST_GROUP) await flush();
        }
        await flush();
        if (rows === 0) throw new Rollback({ kind: "empty" });
        const failed = errorCount > 0 && (options.onInvalidRows === "fail" || inserted === 0);
        if (failed) {
          await tx.run("ROLLBACK TO SAVEPOINT ingest");
          inserted = 0;
        }
        await tx.run("RELEASE SAVEPOINT ingest");
        const row = await tx.get(
          `UPDATE batches SET total = ?, pending = ?, status = ?, error_message = ?, validation_errors = ?,
             completed_at = ? WHERE id = ? RETURNING *`,
          [
            inserted,
            inserted,
            failed ? "failed" : "in_progress",
            failed ? `${errorCount} validation error(s)` : null,
            errors.length > 0 ? JSON.stringify(errors) : null,
            failed ? Date.now() : null,
            b.id,
          ],
        );
        if (failed) await enqueueBatchEvent(tx, b.id, Date.now());
        return { kind: "created" as const, batch: toBatch(row as Row) };
      });
    } catch (err) {
      if (err instanceof Rollback) return err.result;
      throw err;
    }
  }

  /**
   * Takes the idempotency key (if any) and inserts the batch row (status in_progress, no items
   * yet). Returns what an earlier create with the same key or id made, or null when this one is
   * the first.
   */
  private async claimBatchIdentity(
    tx: SqlExecutor,
    b: NewBatch,
    idempotencyKey: string | undefined,
  ): Promise<CreateBatchResult | null> {
    const hash = b.requestHash ?? null;
    if (idempotencyKey !== undefined) {
      // ON CONFLICT waits for a concurrent create with the same key, then sees its row.
      const took = await tx.run(
        `INSERT INTO idempotency_keys (workspace_id, idem_key, request_hash, batch_id, created_at)
         VALUES (?, ?, ?, ?, ?) ON CONFLICT (workspace_id, idem_key) DO NOTHING`,
        [b.workspaceId, idempotencyKey, hash ?? "", b.id, b.createdAt],
      );
      if (took === 0) {
        const key = (await tx.get(
          "SELECT request_hash, batch_id FROM idempotency_keys WHERE workspace_id = ? AND idem_key = ?",
          [b.workspaceId, idempotencyKey],
        )) as Row;
        const batch = await tx.get("SELECT * FROM batches WHERE id = ?", [key.batch_id]);
        if (batch) {
          return {
            kind: "existing",
            batch: toBatch(batch),
            sameRequest: key.request_hash === (hash ?? ""),
            by: "idempotency_key",
          };
        }
      }
    }
    const row = await tx.get(
      `INSERT INTO batches (id, workspace_id, agent_id, name, status, total, pending, webhook, metadata,
         created_at, expires_at, input_file_id, original_file_name, input_format, request_hash)
       VALUES (?, ?, ?, ?, 'in_progress', 0, 0, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING id`,
      [
        b.id,
        b.workspaceId,
        b.agentId,
        b.name,
        b.webhook ? JSON.stringify(b.webhook) : null,
        b.metadata ? JSON.stringify(b.metadata) : null,
        b.createdAt,
        b.expiresAt,
        b.inputFileId ?? null,
        b.originalFileName ?? null,
        b.inputFormat ?? null,
        hash,
      ],
    );
    if (row) return null;
    const existing = await tx.get("SELECT * FROM batches WHERE id = ? AND workspace_id = ?", [
      b.id,
      b.workspaceId,
    ]);
    if (!existing) return { kind: "id_taken" };
    return {
      kind: "existing",
      batch: toBatch(existing),
      sameRequest: hash !== null && existing.request_hash === hash,
      by: "id",
    };
  }

  async pauseBatch(workspaceId: string, batchId: string, now: number): Promise<StateChangeResult> {
    return this.moveBatchStatus(workspaceId, batchId, "in_progress", "paused", "paused_at = ?", [now]);
  }

  async resumeBatch(workspaceId: string, batchId: string, _now: number): Promise<StateChangeResult> {
    return this.moveBatchStatus(workspaceId, batchId, "paused", "in_progress", "paused_at = NULL", []);
  }

  /** One conditional UPDATE; a batch already in `to` is an unchanged success, any other status a conflict. */
  private async moveBatchStatus(
    workspaceId: string,
    batchId: string,
    from: BatchStatus,
    to: BatchStatus,
    set: string,
    params: unknown[],
  ): Promise<StateChangeResult> {
    const row = await this.db.get(
      `UPDATE batches SET status = ?, ${set} WHERE id = ? AND workspace_id = ? AND status = ? RETURNING *`,
      [to, ...params, batchId, workspaceId, from],
    );
    if (row) {
      return {
        kind: "ok",
        batch: toBatch(row),
        changed: true,
        transitions: [{ batchId, workspaceId, from, to }],
      };
    }
    const current = await this.getBatch(workspaceId, batchId);
    if (!current) return { kind: "not_found" };
    if (current.status === to) return { kind: "ok", batch: current, changed: false, transitions: [] };
    return { kind: "conflict", batch: current };
  }

  async retryFailedItems(
    workspaceId: string,
    batchId: string,
    _now: number,
    expiresAt: number,
  ): Promise<StateChangeResult> {
    return this.db.transaction(async (tx) => {
      const row = await tx.get("SELECT * FROM batches WHERE id = ? AND workspace_id = ?", [
        batchId,
        workspaceId,
      ]);
      if (!row) return { kind: "not_found" as const };
      const from = row.status as BatchStatus;
      if (!TERMINAL_BATCH_STATUSES.includes(from) || n(row.failed) === 0) {
        return { kind: "conflict" as const, batch: toBatch(row) };
      }
      // Items first, then the batch row (the lock order of every transaction).
      const moved = await tx.run(
        `UPDATE batch_items SET status = 'pending', attempts = 0, not_before = 0, error_code = NULL,
           error_message = NULL, processed_at = NULL, lease_owner = NULL, lease_expires_at = NULL
         WHERE batch_id = ? AND status = 'failed'`,
        [batchId],
      );
      if (moved === 0) return { kind: "conflict" as const, batch: toBatch(row) };
      // An OpenAI-shaped batch gets its output and error files written again when it finishes anew.
      await tx.run(
        `UPDATE api_batches SET output_file_id = NULL, error_file_id = NULL, finalize_owner = NULL,
           finalize_started_at = NULL, finalized_at = NULL WHERE batch_id = ? AND shape = 'openai'`,
        [batchId],
      );
      const batch = await tx.get(
        `UPDATE batches SET status = 'in_progress', failed = failed - ?, pending = pending + ?,
           completed_at = NULL, cancelled_at = NULL, paused_at = NULL, error_message = NULL,
           expires_at = CASE WHEN expires_at > ? THEN expires_at ELSE ? END
         WHERE id = ? RETURNING *`,
        [moved, moved, expiresAt, expiresAt, batchId],
      );
      return {
        kind: "ok" as const,
        batch: toBatch(batch as Row),
        changed: true,
        transitions: [{ batchId, workspaceId, from, to: "in_progress" as const }],
      };
    });
  }

  async listItemsAfter(
    batchId: string,
    afterSeq: number,
    limit: number,
    status?: ItemStatus,
  ): Promise<BatchItem[]> {
    const rows = status
      ? await this.db.all(
          "SELECT * FROM batch_items WHERE batch_id = ? AND status = ? AND seq > ? ORDER BY seq LIMIT ?",
          [batchId, status, afterSeq, limit],
        )
      : await this.db.all("SELECT * FROM batch_items WHERE batch_id = ? AND seq > ? ORDER BY seq LIMIT ?", [
          batchId,
          afterSeq,
          limit,
        ]);
    return rows.map(toBatchItem);
  }

  async getItemByCustomId(batchId: string, customId: string): Promise<BatchItem | undefined> {
    const row = await this.db.get("SELECT * FROM batch_items WHERE batch_id = ? AND custom_id = ?", [
      batchId,
      customId,
    ]);
    return row ? toBatchItem(row) : undefined;
  }

  async statusMap(batchId: string, page: PageQuery): Promise<StatusMap> {
    const map: StatusMap = { pending: [], processing: [], success: [], failed: [] };
    for (const status of Object.keys(map) as ItemStatus[]) {
      const rows = await this.db.all(
        "SELECT custom_id FROM batch_items WHERE batch_id = ? AND status = ? ORDER BY seq LIMIT ? OFFSET ?",
        [batchId, status, page.limit, page.offset],
      );
      map[status] = rows.map((r) => r.custom_id as string);
    }
    return map;
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
    const batchRow = await tx.get("SELECT workspace_id, webhook, item_webhooks FROM batches WHERE id = ?", [
      batchId,
    ]);
    const batch = outboxBatch(batchRow as Row);
    const changed = wantsItemEvents(batch)
      ? await this.failPendingWithEvents(tx, batch, batchId, code, message, now)
      : await tx.run(
          `UPDATE batch_items SET status = 'failed', error_code = ?, error_message = ?, processed_at = ?
           WHERE batch_id = ? AND status = 'pending'`,
          [code, message, now, batchId],
        );
    const d = deltas.of(batchId);
    d.pending -= changed;
    d.failed += changed;
    return changed;
  }

  /** failPending for a batch that sends request events: in groups, queuing `request.failed` per item. */
  private async failPendingWithEvents(
    tx: SqlExecutor,
    batch: OutboxBatch,
    batchId: string,
    code: number,
    message: string,
    now: number,
  ): Promise<number> {
    const group = 500;
    let changed = 0;
    for (;;) {
      const rows = await tx.all(
        `UPDATE batch_items SET status = 'failed', error_code = ?, error_message = ?, processed_at = ?
         WHERE id IN (SELECT id FROM batch_items WHERE batch_id = ? AND status = 'pending' ORDER BY seq LIMIT ?)
         RETURNING *`,
        [code, message, now, batchId, group],
      );
      for (const item of rows) await enqueueItemEvent(tx, batch, item, now);
      changed += rows.length;
      if (rows.length < group) return changed;
    }
  }

  /** Queues the `request.*` events of an item that just reached its final status. */
  private async enqueueOutcomeEvent(tx: SqlExecutor, batch: OutboxBatch, itemId: number, now: number) {
    if (!wantsItemEvents(batch)) return;
    const item = (await tx.get("SELECT * FROM batch_items WHERE id = ?", [itemId])) as Row;
    await enqueueItemEvent(tx, batch, item, now);
  }

  /**
   * Moves a batch to its final status once nothing of it is left to run, and queues the
   * webhook event of that status in the same transaction.
   */
  private async settle(tx: SqlExecutor, batchId: string, now: number): Promise<BatchTransition | null> {
    const read = async () =>
      (await tx.get("SELECT workspace_id, status, pending, processing FROM batches WHERE id = ?", [
        batchId,
      ])) as Row;
    let b = await read();
    const from = b.status as BatchStatus;
    if (from === "cancelling" && n(b.pending) > 0) {
      // On PostgreSQL a commit that read the batch as in_progress (unlocked) can return an item to
      // pending while a cancel commits; by now this transaction holds the batch row and sees the
      // cancel, so such an item fails here like every other pending item of a cancelled batch.
      const deltas = new Deltas();
      await this.failPending(tx, batchId, 499, CANCELLED_MESSAGE, now, deltas);
      await deltas.write(tx);
      b = await read();
    }
    if ((from === "in_progress" || from === "paused") && n(b.pending) === 0 && n(b.processing) === 0) {
      await tx.run("UPDATE batches SET status = 'completed', completed_at = ? WHERE id = ?", [now, batchId]);
      await enqueueBatchEvent(tx, batchId, now);
      return { batchId, workspaceId: b.workspace_id, from, to: "completed" };
    }
    if (from === "cancelling" && n(b.processing) === 0) {
      await tx.run("UPDATE batches SET status = 'cancelled', cancelled_at = ? WHERE id = ?", [now, batchId]);
      await enqueueBatchEvent(tx, batchId, now);
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
    // Item rows are locked in id order, as commits lock them: in any other order a renewal and
    // a group commit of the same worker deadlock on PostgreSQL.
    const lockInOrder = this.dialect === "postgres" ? " ORDER BY id FOR UPDATE" : "";
    for (const group of chunks([...itemIds].sort((a, b) => a - b))) {
      const rows = await this.db.all(
        `UPDATE batch_items SET lease_expires_at = ?
         WHERE id IN (SELECT id FROM batch_items WHERE lease_owner = ? AND status = 'processing'
                      AND id IN (${marks(group.length)})${lockInOrder})
           AND lease_owner = ? AND status = 'processing' RETURNING id`,
        [leaseExpiresAt, owner, ...group, owner],
      );
      for (const r of rows) held.add(n(r.id));
    }
    return itemIds.filter((id) => !held.has(id));
  }

  async releaseItems(
    owner: string,
    items: { itemId: number; attempt: number }[],
  ): Promise<BatchTransition[]> {
    if (items.length === 0) return [];
    return this.db.transaction(async (tx) => {
      const now = Date.now();
      const deltas = new Deltas();
      for (const it of [...items].sort((a, b) => a.itemId - b.itemId)) {
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
      return this.settleAll(tx, deltas, now);
    });
  }

  async commitOutcomes(outcomes: ItemOutcome[], now: number): Promise<CommitReport> {
    if (outcomes.length === 0) return { applied: 0, discarded: 0, transitions: [], touchedBatchIds: [] };
    return this.db.transaction((tx) => this.applyOutcomes(tx, outcomes, now));
  }

  private async applyOutcomes(tx: SqlExecutor, outcomes: ItemOutcome[], now: number): Promise<CommitReport> {
    const batches = new Map<string, OutcomeBatch>();
    for (const group of chunks([...new Set(outcomes.map((o) => o.batchId))])) {
      const rows = await tx.all(
        `SELECT id, status, expires_at, workspace_id, webhook, item_webhooks FROM batches WHERE id IN (${marks(group.length)})`,
        group,
      );
      for (const r of rows)
        batches.set(r.id, { status: r.status, expiresAt: n(r.expires_at), ...outboxBatch(r) });
    }
    const deltas = new Deltas();
    let applied = 0;
    // Item rows in id order (the order renewals lock them in), then batch rows in id order.
    for (const o of [...outcomes].sort((a, b) => a.itemId - b.itemId)) {
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
    batch: OutcomeBatch,
    now: number,
    deltas: Deltas,
  ): Promise<boolean> {
    const fence = "WHERE id = ? AND lease_owner = ? AND attempts = ? AND status = 'processing'";
    const fenceParams = [o.itemId, o.leaseOwner, o.attempt];
    if (o.kind === "success") {
      const item = await tx.get(
        `UPDATE batch_items SET status = 'success', response_content = ?, response_usage = ?, finish_reason = ?,
           error_code = NULL, error_message = NULL, processed_at = ?, lease_owner = NULL, lease_expires_at = NULL ${fence}
         RETURNING attached_file_uuids`,
        [o.responseContent, JSON.stringify(o.responseUsage), o.finishReason ?? null, now, ...fenceParams],
      );
      if (!item) return false;
      const files = json<string[]>(item.attached_file_uuids) ?? [];
      const { chatId, groupId } = await this.writeChatTurn(tx, o, files, now);
      await tx.run("UPDATE batch_items SET chat_id = ?, conversation_id = ? WHERE id = ?", [
        chatId,
        groupId,
        o.itemId,
      ]);
      await this.enqueueOutcomeEvent(tx, batch, o.itemId, now);
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
      await this.enqueueOutcomeEvent(tx, batch, o.itemId, now);
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
    attachedFileIds: string[],
    now: number,
  ): Promise<{ chatId: number; groupId: number }> {
    const turn = await this.insertChatTurn(
      tx,
      {
        workspaceId: o.workspaceId,
        chatId: o.historyId,
        agentId: o.agentId,
        chatName: o.chatName,
        externalUserId: o.externalUserId,
        message: o.message,
        reply: o.responseContent,
        attachedFileIds,
        questionMeta: { batch_id: o.batchId },
        replyMeta: {
          ...replyMeta(o.promptTokens, o.completionTokens, o.responseTimeMs),
          batch_id: o.batchId,
        },
      },
      now,
    );
    return { chatId: turn.chatId, groupId: turn.question.id };
  }

  /** The one way a turn is written, for batch items and chat messages alike. */
  private async insertChatTurn(tx: SqlExecutor, t: ChatTurnRecord, now: number): Promise<StoredChatTurn> {
    let chatId = t.chatId;
    if (chatId === null) {
      const chat = (await tx.get(
        `INSERT INTO chats (workspace_id, agent_id, name, external_user_id, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
        [t.workspaceId, t.agentId, t.chatName, t.externalUserId, now, now],
      )) as Row;
      chatId = n(chat.id);
    } else {
      await tx.run("UPDATE chats SET updated_at = ? WHERE id = ?", [now, chatId]);
    }
    const question = (await tx.get(
      "INSERT INTO messages (chat_id, role, content, meta, created_at) VALUES (?, 'user', ?, ?, ?) RETURNING *",
      [chatId, t.message, JSON.stringify(t.questionMeta), now],
    )) as Row;
    const groupId = n(question.id);
    const files = [...new Set(t.attachedFileIds)];
    for (let i = 0; i < files.length; i++) {
      await tx.run("INSERT INTO message_files (message_id, file_id, position) VALUES (?, ?, ?)", [
        groupId,
        files[i],
        i,
      ]);
    }
    const answer = (await tx.get(
      `INSERT INTO messages (chat_id, group_id, role, content, meta, created_at)
       VALUES (?, ?, 'assistant', ?, ?, ?) RETURNING *`,
      [chatId, groupId, t.reply, JSON.stringify(t.replyMeta), now],
    )) as Row;
    return { chatId, question: toMessage(question), answer: toMessage(answer) };
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

  // ---- workers ----

  runAsLeader<T>(task: string, fn: () => Promise<T>): Promise<T | undefined> {
    return this.db.runExclusive(task, fn);
  }

  async heartbeatWorker(workerId: string, now: number, staleBefore: number): Promise<number> {
    await this.db.run(
      `INSERT INTO workers (id, started_at, last_seen) VALUES (?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen`,
      [workerId, now, now],
    );
    await this.db.run("DELETE FROM workers WHERE last_seen < ?", [staleBefore]);
    const row = (await this.db.get("SELECT COUNT(*) AS c FROM workers")) as Row;
    return Math.max(1, n(row.c));
  }

  async removeWorker(workerId: string): Promise<void> {
    await this.db.run("DELETE FROM workers WHERE id = ?", [workerId]);
  }

  async metricsSnapshot(): Promise<MetricsSnapshot> {
    // The counters move in the same transactions as the items, so their sums are exact item counts.
    const totals = (await this.db.get(
      `SELECT COALESCE(SUM(pending), 0) AS pending, COALESCE(SUM(processing), 0) AS processing,
         COALESCE(SUM(succeeded), 0) AS succeeded, COALESCE(SUM(failed), 0) AS failed,
         COALESCE(SUM(CASE WHEN status = 'in_progress' THEN pending ELSE 0 END), 0) AS queued
       FROM batches`,
    )) as Row;
    const byStatus = await this.db.all("SELECT status, COUNT(*) AS c FROM batches GROUP BY status");
    const deliveries = await this.db.all(
      "SELECT status, COUNT(*) AS c, COALESCE(SUM(attempts), 0) AS a FROM webhook_deliveries GROUP BY status",
    );
    return {
      items: {
        pending: n(totals.pending),
        processing: n(totals.processing),
        success: n(totals.succeeded),
        failed: n(totals.failed),
      },
      queueDepth: n(totals.queued),
      batches: Object.fromEntries(byStatus.map((r) => [r.status as BatchStatus, n(r.c)])),
      webhookDeliveries: Object.fromEntries(
        deliveries.map((r) => [r.status as WebhookDeliveryStatus, { deliveries: n(r.c), attempts: n(r.a) }]),
      ),
    };
  }
}
