/**
 * The store's record and interface types in one import, for the layers above. Each is declared
 * once, in the file of its aggregate (or in ../domain); this file only re-exports them.
 */
export type { BatchTransition } from "../domain/lifecycle.js";
export type { BatchStatus, ItemStatus } from "../domain/statuses.js";
export type { ResponseUsage } from "../domain/usage.js";
export type { WebhookSettings } from "../domain/webhook-events.js";
export type * from "./agents.js";
export type * from "./api-batches.js";
export type * from "./batches.js";
export type * from "./blobs.js";
export type * from "./broadcast.js";
export type * from "./chat-turns.js";
export type * from "./chats.js";
export type * from "./files.js";
export type * from "./items.js";
export type * from "./metrics.js";
export type * from "./outbox.js";
export type * from "./page.js";
export type * from "./steps.js";
export type * from "./store.js";
export type * from "./tool-calls.js";
export type * from "./workers.js";
export type * from "./workspaces.js";
