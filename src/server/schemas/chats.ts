/** Request schemas of the Chat API (chats, messages, feedback, attachments). */
import { Type } from "@sinclair/typebox";
import { Body, Nullable, PageQuery, Query, StringEnum } from "./common.js";

export const CHAT_ORDERS = ["-created_at", "created_at", "-updated_at", "updated_at"] as const;
export const FEEDBACK_RATINGS = ["helpful", "improve"] as const;
export const FILE_SCOPES = ["persistent", "ephemeral"] as const;

export const ChatParams = Type.Object({
  chatId: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: "The chat id" }),
});

export const MessageParams = Type.Object({
  chatId: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
  messageId: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
});

export const FileParams = Type.Object({ uuid: Type.String({ minLength: 1, maxLength: 64 }) });

const ExternalUserId = Type.String({
  minLength: 1,
  maxLength: 256,
  description: "Your end user's id; required for a workspace in whitelist mode",
});

export const CreateChatBody = Body({
  name: Type.Optional(Nullable(Type.String({ maxLength: 256 }))),
  agent_id: Type.String({ minLength: 1, description: "A published agent of the workspace" }),
  external_user_id: Type.Optional(Nullable(ExternalUserId)),
});

export const RenameChatBody = Body({ name: Type.String({ minLength: 1, maxLength: 256 }) });

export const ListChatsQuery = Query({
  ...PageQuery.properties,
  order_by: StringEnum(CHAT_ORDERS, {
    default: "-created_at",
    description: "Sort order; - for newest first",
  }),
  agent_id: Type.Optional(Type.String({ minLength: 1 })),
  external_user_id: Type.Optional(Type.String({ minLength: 1 })),
});

export const SendMessageBody = Body({
  message: Type.String({ minLength: 1, maxLength: 1_000_000, description: "The user's message" }),
  agent_id: Type.Optional(
    Nullable(Type.String({ minLength: 1, description: "Answer with this agent instead of the chat's" })),
  ),
  attached_file_uuids: Type.Optional(
    Nullable(Type.Array(Type.String({ minLength: 1 }), { maxItems: 20, description: "From upload-file" })),
  ),
  stream: Type.Boolean({ default: true, description: "Server-Sent Events (true) or one JSON answer" }),
});

/** Outputs of the client tool calls a chat turn waits on: every pending call, in one request. */
export const ChatToolOutputsBody = Body({
  outputs: Type.Optional(
    Type.Array(
      Body({
        call_id: Type.String({ minLength: 1, maxLength: 128 }),
        output: Type.Unknown({
          description: "The tool's result: a string, or any JSON value (sent as its JSON text)",
        }),
      }),
      { minItems: 1, maxItems: 100, description: "Every pending call's output (required unless cancel)" },
    ),
  ),
  cancel: Type.Optional(
    Type.Literal(true, {
      description:
        "Instead of outputs: drop the waiting turn (nothing is stored); the chat takes messages again. Answered as JSON.",
    }),
  ),
  stream: Type.Boolean({ default: true, description: "Server-Sent Events (true) or one JSON answer" }),
});

export const FeedbackBody = Body({
  rating: StringEnum(FEEDBACK_RATINGS),
  comment: Type.Optional(Nullable(Type.String({ maxLength: 2000 }))),
  external_user_id: Type.Optional(Nullable(ExternalUserId)),
});
