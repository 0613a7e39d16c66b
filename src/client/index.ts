/**
 * agentbatch/client: the TypeScript client of the agentbatch API. It depends on nothing but
 * `fetch` and Web Crypto, so it runs in Node 20+ and in browsers.
 */
export {
  AgentbatchClient,
  type AgentbatchClientOptions,
  AgentsApi,
  BatchesApi,
  ChatsApi,
  type CreateOptions,
  FINAL_BATCH_STATUSES,
  FilesApi,
  type UploadOptions,
  type WaitOptions,
} from "./client.js";
export { AgentbatchConnectionError, AgentbatchError } from "./errors.js";
export {
  parseRetryAfter,
  type Query,
  type RequestOptions,
  Transport,
  type TransportOptions,
} from "./http.js";
export { PageIterator } from "./pagination.js";
export type * from "./types.js";
export { type VerifyWebhookOptions, verifyWebhook, type WebhookHeaders } from "./webhooks.js";
