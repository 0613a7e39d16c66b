import type { Static } from "@sinclair/typebox";
import { newUuid } from "../domain/ids.js";
import type { WebhookSettings } from "../domain/webhook-events.js";
import { DEFAULT_BATCH_WEBHOOK_EVENTS, DEFAULT_REQUEST_WEBHOOK_EVENTS } from "../domain/webhook-events.js";
import type { Agent, NewBatch, NewBatchItem, Workspace } from "../store/types.js";
import { attachmentProblems } from "./attachments.js";
import type { AppContext } from "./context.js";
import { badRequest } from "./errors.js";
import { assertJsonBounds } from "./json-bounds.js";
import { unpublishedAgentProblem } from "./published-agent.js";
import type { BatchRequestItem, CreateBatchBody } from "./schemas/batches.js";
import { assertRequestsWhitelisted } from "./whitelist.js";

export type CreateBatchInput = Static<typeof CreateBatchBody>;
type BatchRequest = Static<typeof BatchRequestItem>;

/** A webhook URL as given, checked: absolute, and https unless `webhooks.allowHttp`. */
function webhookUrl(ctx: AppContext, raw: string, field: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw badRequest(`${field}: must be an absolute URL`);
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && ctx.config.webhooks.allowHttp)) {
    throw badRequest(`${field}: must be an https URL`);
  }
  return url.toString();
}

/**
 * Checks what the schema cannot (custom_id uniqueness, agents that exist and are published,
 * chats that exist, attachments, the webhook targets) and returns the batch row and its inline
 * items (none when the requests come from a file, see batch-submit.ts). Each failure is a 400
 * whose message names the field path.
 */
export async function prepareBatch(
  ctx: AppContext,
  ws: Workspace,
  input: CreateBatchInput,
  now = Date.now(),
): Promise<{ batch: NewBatch; items: NewBatchItem[] }> {
  const requests = input.requests ?? [];
  assertUniqueCustomIds(requests);
  assertJsonBounds(input.metadata, "metadata");
  assertJsonBounds(input.context, "context");
  const publishedAgent = publishedAgentLookup(ctx, ws);
  const defaultAgent = await publishedAgent(input.agent_id, "agent_id");
  await assertRequestsWhitelisted(ctx.store, ws.id, requests);
  const attachable = await attachmentProblems(
    ctx.store,
    ws.id,
    requests.flatMap((r) => r.attached_file_uuids ?? []),
  );
  const chats = new Set<number>();
  const items: NewBatchItem[] = [];
  for (const [i, r] of requests.entries()) {
    const at = `requests[${i}]`;
    const agent = r.agent_id ? await publishedAgent(r.agent_id, `${at}.agent_id`) : defaultAgent;
    if (r.history_id != null && !chats.has(r.history_id)) {
      if (!(await ctx.store.chats.get(ws.id, r.history_id))) {
        throw badRequest(`${at}.history_id: chat ${r.history_id} not found in this workspace`);
      }
      chats.add(r.history_id);
    }
    items.push(inlineItem(ctx, r, at, agent, attachable));
  }
  const batch: NewBatch = {
    id: newUuid(),
    workspaceId: ws.id,
    agentId: defaultAgent.id,
    name: input.name ?? null,
    webhook: webhookSettings(ctx, input.webhook, "webhook", DEFAULT_BATCH_WEBHOOK_EVENTS),
    metadata: input.metadata ?? null,
    context: input.context ?? null,
    createdAt: now,
    expiresAt: now + ctx.config.engine.completionWindowMs,
  };
  return { batch, items };
}

function assertUniqueCustomIds(requests: BatchRequest[]): void {
  const seen = new Map<string, number>();
  requests.forEach((r, i) => {
    const first = seen.get(r.custom_id);
    if (first !== undefined) {
      throw badRequest(
        `requests[${i}].custom_id: "${r.custom_id}" is used twice (also by requests[${first}]); custom_id must be unique within the batch`,
      );
    }
    seen.set(r.custom_id, i);
  });
}

/** Checks agents against the published-agent rule, reading each one once per batch. */
function publishedAgentLookup(ctx: AppContext, ws: Workspace) {
  const agents = new Map<string, Agent | undefined>();
  return async (id: string, field: string): Promise<Agent> => {
    if (!agents.has(id)) agents.set(id, await ctx.store.agents.get(ws.id, id));
    const agent = agents.get(id);
    const problem = unpublishedAgentProblem(agent, id);
    if (problem) throw badRequest(`${field}: ${problem}`);
    return agent as Agent;
  };
}

/** One inline request as an item; `at` is its path (`requests[3]`). */
function inlineItem(
  ctx: AppContext,
  r: BatchRequest,
  at: string,
  agent: Agent,
  attachable: Map<string, string>,
): NewBatchItem {
  assertJsonBounds(r.context, `${at}.context`);
  assertJsonBounds(r.metadata, `${at}.metadata`);
  const files = [...new Set(r.attached_file_uuids ?? [])];
  for (const id of files) {
    const problem = attachable.get(id);
    if (problem) throw badRequest(`${at}.attached_file_uuids: ${problem}`);
  }
  return {
    customId: r.custom_id,
    agentId: agent.id,
    agentVersion: agent.publishedVersion as number,
    message: r.message,
    externalUserId: r.external_user_id ?? null,
    name: r.name ?? null,
    attachedFileUuids: files,
    historyId: r.history_id ?? null,
    webhook: webhookSettings(ctx, r.webhook, `${at}.webhook`, DEFAULT_REQUEST_WEBHOOK_EVENTS),
    context: r.context ?? null,
    metadata: r.metadata ?? null,
  };
}

/** A batch's or a request's webhook as stored, its URL checked; `field` names it in errors. */
function webhookSettings(
  ctx: AppContext,
  hook: { url: string; events?: string[]; secret?: string | null } | null | undefined,
  field: string,
  defaultEvents: string[],
): WebhookSettings | null {
  if (!hook) return null;
  return {
    url: webhookUrl(ctx, hook.url, `${field}.url`),
    events: hook.events ?? defaultEvents,
    secret: hook.secret ?? null,
  };
}
