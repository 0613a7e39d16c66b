import type { ChatTurnRecord, StoredChatTurn } from "../chats.js";
import type { Row, SqlExecutor } from "./driver.js";
import { n, toMessage } from "./rows.js";

/** The one way a turn is written, for batch items and chat messages alike. */
export async function insertChatTurn(
  tx: SqlExecutor,
  t: ChatTurnRecord,
  now: number,
): Promise<StoredChatTurn> {
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
