import type {
  Chat,
  ChatListQuery,
  ChatOrder,
  ChatStore,
  ChatTurnRecord,
  MessageFeedback,
  MessageFile,
  MessageRecord,
  NewChat,
  NewFeedback,
  StoredChatTurn,
} from "../chats.js";
import type { Page, PageQuery } from "../page.js";
import { insertChatTurn } from "./chat-rows.js";
import { marks, type Row, type SqlDriver, statementGroups } from "./driver.js";
import { rowInWorkspace } from "./queries.js";
import { n, toChat, toFeedback, toFile, toMessage } from "./rows.js";

const CHAT_ORDER: Record<ChatOrder, string> = {
  created_at: "created_at, id",
  "-created_at": "created_at DESC, id DESC",
  updated_at: "updated_at, id",
  "-updated_at": "updated_at DESC, id DESC",
};

/** Chats, messages, the files messages carried, and feedback. */
export class SqlChatStore implements ChatStore {
  constructor(private readonly db: SqlDriver) {}

  async create(c: NewChat, now: number): Promise<Chat> {
    const row = await this.db.get(
      `INSERT INTO chats (workspace_id, agent_id, name, external_user_id, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?) RETURNING *`,
      [c.workspaceId, c.agentId, c.name, c.externalUserId, now, now],
    );
    return toChat(row as Row);
  }

  async get(workspaceId: string, chatId: number): Promise<Chat | undefined> {
    const row = await rowInWorkspace(this.db, "chats", chatId, workspaceId);
    return row ? toChat(row) : undefined;
  }

  async rename(workspaceId: string, chatId: number, name: string, now: number): Promise<Chat | undefined> {
    const row = await this.db.get(
      "UPDATE chats SET name = ?, updated_at = ? WHERE id = ? AND workspace_id = ? RETURNING *",
      [name, now, chatId, workspaceId],
    );
    return row ? toChat(row) : undefined;
  }

  async list(workspaceId: string, query: ChatListQuery): Promise<Page<Chat>> {
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

  async appendTurn(turn: ChatTurnRecord, now: number): Promise<StoredChatTurn> {
    return this.db.transaction((tx) => insertChatTurn(tx, turn, now));
  }

  async getMessage(chatId: number, messageId: number): Promise<MessageRecord | undefined> {
    const row = await this.db.get("SELECT * FROM messages WHERE id = ? AND chat_id = ?", [messageId, chatId]);
    return row ? toMessage(row) : undefined;
  }

  async listMessages(chatId: number): Promise<MessageRecord[]> {
    return (await this.db.all("SELECT * FROM messages WHERE chat_id = ? ORDER BY id", [chatId])).map(
      toMessage,
    );
  }

  async pageMessages(chatId: number, page: PageQuery): Promise<Page<MessageRecord>> {
    return this.db.readSnapshot(async (tx) => {
      const rows = await tx.all("SELECT * FROM messages WHERE chat_id = ? ORDER BY id LIMIT ? OFFSET ?", [
        chatId,
        page.limit,
        page.offset,
      ]);
      const total = (await tx.get("SELECT COUNT(*) AS c FROM messages WHERE chat_id = ?", [chatId])) as Row;
      return { rows: rows.map(toMessage), total: n(total.c) };
    });
  }

  async listMessageFiles(messageIds: number[]): Promise<MessageFile[]> {
    const files: MessageFile[] = [];
    for (const group of statementGroups(
      this.db,
      [...new Set(messageIds)].sort((a, b) => a - b),
    )) {
      const rows = await this.db.all(
        `SELECT mf.message_id AS attached_to, f.* FROM message_files mf JOIN files f ON f.id = mf.file_id
         WHERE mf.message_id IN (${marks(group.length)}) AND f.deleted_at IS NULL ORDER BY mf.message_id, mf.position`,
        group,
      );
      for (const r of rows) files.push({ messageId: n(r.attached_to), file: toFile(r) });
    }
    return files;
  }

  async addFeedback(f: NewFeedback, now: number): Promise<MessageFeedback> {
    const row = await this.db.get(
      `INSERT INTO message_feedbacks (message_id, chat_id, rating, comment, external_user_id, created_at)
       VALUES (?, ?, ?, ?, ?, ?) RETURNING *`,
      [f.messageId, f.chatId, f.rating, f.comment, f.externalUserId, now],
    );
    return toFeedback(row as Row);
  }

  async listFeedbacks(messageIds: number[]): Promise<MessageFeedback[]> {
    const feedbacks: MessageFeedback[] = [];
    for (const group of statementGroups(this.db, [...new Set(messageIds)])) {
      const rows = await this.db.all(
        `SELECT * FROM message_feedbacks WHERE message_id IN (${marks(group.length)}) ORDER BY id`,
        group,
      );
      for (const r of rows) feedbacks.push(toFeedback(r));
    }
    return feedbacks.sort((a, b) => a.id - b.id);
  }
}
