/**
 * Identifiers agentbatch hands out. Random (UUID v4 from the global Web Crypto), prefixed where a
 * wire shape expects a prefix, so that an id says what it names.
 */

const hex = () => crypto.randomUUID().replace(/-/g, "");

/** A Codeer batch, agent or file id: a plain UUID. */
export const newUuid = (): string => crypto.randomUUID();
/** A batch created through the OpenAI Batch API shape. */
export const newOpenAIBatchId = (): string => `batch_${hex()}`;
/** A batch created through the Anthropic Message Batches shape. */
export const newAnthropicBatchId = (): string => `msgbatch_${hex()}`;
/** A file produced by agentbatch (OpenAI output and error files). */
export const newOpenAIFileId = (): string => `file-${hex()}`;
/** A webhook delivery: stable across retries, sent as `webhook-id`. */
export const newDeliveryId = (): string => `msg_${hex()}`;
/** A chat response (the `response_id` of the Chat API's stream frames). */
export const newResponseId = (): string => `resp_${hex()}`;
/** A process taking part in the work (engine, dispatcher, writer): host, pid and a random suffix. */
export const newOwnerId = (host: string, pid: number): string =>
  `${host}:${pid}:${crypto.randomUUID().slice(0, 8)}`;
