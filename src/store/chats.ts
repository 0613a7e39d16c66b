/** Chats, their messages (a batch item's question and answer are a chat turn too), files and feedback. */
import type { FileRecord } from "./files.js";
import type { Page, PageQuery } from "./page.js";

export interface Chat {
  id: number;
  workspaceId: string;
  agentId: string | null;
  name: string | null;
  externalUserId: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface MessageRecord {
  id: number;
  chatId: number;
  /** The id of the user message that opened this turn; a reply shares its question's group. */
  groupId: number;
  role: "system" | "user" | "assistant";
  content: string;
  meta: Record<string, unknown>;
  createdAt: number;
}

export interface NewChat {
  workspaceId: string;
  agentId: string | null;
  name: string | null;
  externalUserId: string | null;
}

export type ChatOrder = "created_at" | "-created_at" | "updated_at" | "-updated_at";

export interface ChatListQuery extends PageQuery {
  orderBy: ChatOrder;
  agentId?: string;
  externalUserId?: string;
}

/**
 * One question and its answer, written together: a finished batch item and a chat message are
 * stored the same way.
 */
export interface ChatTurnRecord {
  workspaceId: string;
  /** The chat to continue, or null to open one (named `chatName`). */
  chatId: number | null;
  agentId: string;
  chatName: string | null;
  externalUserId: string | null;
  message: string;
  reply: string;
  /** Files the question carried, in order. */
  attachedFileIds: string[];
  questionMeta: Record<string, unknown>;
  /** `token_usage`, `response_time_ms` and the like. */
  replyMeta: Record<string, unknown>;
}

export interface StoredChatTurn {
  chatId: number;
  question: MessageRecord;
  answer: MessageRecord;
}

/** A file attached to a message of a chat. */
export interface MessageFile {
  messageId: number;
  file: FileRecord;
}

export type FeedbackRating = "helpful" | "improve";

export interface MessageFeedback {
  id: number;
  chatId: number;
  messageId: number;
  rating: FeedbackRating;
  comment: string | null;
  externalUserId: string | null;
  createdAt: number;
}

export type NewFeedback = Omit<MessageFeedback, "id" | "createdAt">;

export interface ChatStore {
  create(chat: NewChat, now: number): Promise<Chat>;
  get(workspaceId: string, chatId: number): Promise<Chat | undefined>;
  rename(workspaceId: string, chatId: number, name: string, now: number): Promise<Chat | undefined>;
  list(workspaceId: string, query: ChatListQuery): Promise<Page<Chat>>;
  /** Stores a question and its answer in one transaction; opens the chat when `chatId` is null. */
  appendTurn(turn: ChatTurnRecord, now: number): Promise<StoredChatTurn>;
  getMessage(chatId: number, messageId: number): Promise<MessageRecord | undefined>;
  /** Every message of a chat, oldest first (the history a turn continues). */
  listMessages(chatId: number): Promise<MessageRecord[]>;
  /** One page of a chat's messages, oldest first, with the chat's message count. */
  pageMessages(chatId: number, page: PageQuery): Promise<Page<MessageRecord>>;
  /** Files attached to these messages, in message order. */
  listMessageFiles(messageIds: number[]): Promise<MessageFile[]>;
  addFeedback(feedback: NewFeedback, now: number): Promise<MessageFeedback>;
  /** Feedback on these messages, oldest first. */
  listFeedbacks(messageIds: number[]): Promise<MessageFeedback[]>;
}
