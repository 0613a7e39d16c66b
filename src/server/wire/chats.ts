/** How chats, messages, files and feedback look on the wire (Codeer Chat API field names). */
import { iso } from "../../domain/time.js";
import type { Chat, FileRecord, MessageFeedback, MessageRecord } from "../../store/types.js";

export function chatToWire(c: Chat) {
  return {
    id: c.id,
    name: c.name,
    created_at: iso(c.createdAt),
    updated_at: iso(c.updatedAt),
    meta: { agent_id: c.agentId },
    external_user_id: c.externalUserId,
  };
}

/** The authenticated URL a file's bytes are downloaded from. */
export function fileUrl(base: string, fileId: string): string {
  return `${base}/api/v1/chats/files/${fileId}`;
}

export function fileToWire(f: FileRecord, base: string) {
  return {
    uuid: f.id,
    original_name: f.originalName,
    content_type: f.contentType,
    size: f.size,
    file_url: fileUrl(base, f.id),
    scope: f.scope,
    created_at: iso(f.createdAt),
  };
}

export function feedbackToWire(f: MessageFeedback) {
  return {
    id: f.id,
    chat_id: f.chatId,
    message_id: f.messageId,
    rating: f.rating,
    comment: f.comment,
    external_user_id: f.externalUserId,
    created_at: iso(f.createdAt),
  };
}

export function messageToWire(
  m: MessageRecord,
  files: FileRecord[],
  feedbacks: MessageFeedback[],
  base: string,
) {
  return {
    id: m.id,
    group_id: m.groupId,
    role: m.role,
    content: m.content,
    meta: m.meta,
    attached_files: files.map((f) => fileToWire(f, base)),
    feedbacks: feedbacks.map(feedbackToWire),
    created_at: iso(m.createdAt),
  };
}
