import type { Static } from "@sinclair/typebox";
import { newUuid } from "../domain/ids.js";
import { DEFAULT_BATCH_WEBHOOK_EVENTS, DEFAULT_REQUEST_WEBHOOK_EVENTS } from "../domain/webhook-events.js";
import type { Agent, Batch, NewBatch, NewBatchItem, Workspace } from "../store/types.js";
import { attachmentProblems } from "./attachments.js";
import type { AppContext } from "./context.js";
import { badRequest } from "./errors.js";
import { unpublishedAgentProblem } from "./published-agent.js";
import type { CreateBatchBody } from "./schemas/batches.js";
import { assertRequestsWhitelisted } from "./whitelist.js";

export type CreateBatchInput = Static<typeof CreateBatchBody>;

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
 * chats that exist, the webhook target) and creates the batch with every item in one
 * transaction. Each failure is a 400 whose message names the field path.
 */
export async function createBatch(
  ctx: AppContext,
  ws: Workspace,
  input: CreateBatchInput,
  now = Date.now(),
): Promise<Batch> {
  const { batch: newBatch, items } = await prepareBatch(ctx, ws, input, now);
  const batch = await ctx.store.createBatch(newBatch, items);
  ctx.signals.notifyWork();
  return batch;
}

/**
 * The checks of `createBatch` without the write: the batch row and its inline items (none when
 * the requests come from a file, see batch-submit.ts).
 */
export async function prepareBatch(
  ctx: AppContext,
  ws: Workspace,
  input: CreateBatchInput,
  now = Date.now(),
): Promise<{ batch: NewBatch; items: NewBatchItem[] }> {
  const requests = input.requests ?? [];
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

  const agents = new Map<string, Agent | undefined>();
  const publishedAgent = async (id: string, field: string): Promise<Agent> => {
    if (!agents.has(id)) agents.set(id, await ctx.store.getAgent(ws.id, id));
    const agent = agents.get(id);
    const problem = unpublishedAgentProblem(agent, id);
    if (problem) throw badRequest(`${field}: ${problem}`);
    return agent as Agent;
  };
  const defaultAgent = await publishedAgent(input.agent_id, "agent_id");
  await assertRequestsWhitelisted(ctx.store, ws.id, requests);
  const attachable = await attachmentProblems(
    ctx.store,
    ws.id,
    requests.flatMap((r) => r.attached_file_uuids ?? []),
  );

  const chats = new Set<number>();
  const items: NewBatchItem[] = [];
  for (let i = 0; i < requests.length; i++) {
    const r = requests[i];
    const agent = r.agent_id ? await publishedAgent(r.agent_id, `requests[${i}].agent_id`) : defaultAgent;
    if (r.history_id != null && !chats.has(r.history_id)) {
      if (!(await ctx.store.getChat(ws.id, r.history_id))) {
        throw badRequest(`requests[${i}].history_id: chat ${r.history_id} not found in this workspace`);
      }
      chats.add(r.history_id);
    }
    const files = [...new Set(r.attached_file_uuids ?? [])];
    for (const id of files) {
      const problem = attachable.get(id);
      if (problem) throw badRequest(`requests[${i}].attached_file_uuids: ${problem}`);
    }
    items.push({
      customId: r.custom_id,
      agentId: agent.id,
      agentVersion: agent.publishedVersion as number,
      message: r.message,
      externalUserId: r.external_user_id ?? null,
      name: r.name ?? null,
      attachedFileUuids: files,
      historyId: r.history_id ?? null,
      webhook: r.webhook
        ? {
            url: webhookUrl(ctx, r.webhook.url, `requests[${i}].webhook.url`),
            events: r.webhook.events ?? DEFAULT_REQUEST_WEBHOOK_EVENTS,
            secret: r.webhook.secret ?? null,
          }
        : null,
    });
  }

  let webhook = null;
  if (input.webhook) {
    webhook = {
      url: webhookUrl(ctx, input.webhook.url, "webhook.url"),
      events: input.webhook.events ?? DEFAULT_BATCH_WEBHOOK_EVENTS,
      secret: input.webhook.secret ?? null,
    };
  }

  const batch: NewBatch = {
    id: newUuid(),
    workspaceId: ws.id,
    agentId: defaultAgent.id,
    name: input.name ?? null,
    webhook,
    metadata: input.metadata ?? null,
    createdAt: now,
    expiresAt: now + ctx.config.engine.completionWindowMs,
  };
  return { batch, items };
}
