import type { ApiPlugin, ApiReply, ApiRequest } from "../api-plugin.js";
import type { AppContext } from "../context.js";
import { notFound } from "../errors.js";
import { IdParams } from "../schemas/common.js";
import { ListWebhookDeliveriesQuery, WebhookDeliveryParams } from "../schemas/webhooks.js";
import { ok, pageAnswer } from "../wire/envelope.js";
import { deliveryToWire } from "../wire/webhooks.js";

const tags = ["Webhooks"];

const listSchema = {
  tags,
  summary: "List a batch's webhook deliveries (attempts, status codes, next try, last error)",
  params: IdParams,
  querystring: ListWebhookDeliveriesQuery,
};
const redeliverSchema = {
  tags,
  summary: "Send a delivery again now (same webhook-id, fresh retry window)",
  params: WebhookDeliveryParams,
};

/** The webhook deliveries of a batch (extension): what was sent, how it went, and a redeliver. */
export const webhookRoutes: ApiPlugin = async (app, { ctx }) => {
  app.get("/batches/:id/webhook-deliveries", { schema: listSchema }, (request) =>
    listDeliveries(ctx, request),
  );
  app.post(
    "/batches/:id/webhook-deliveries/:delivery_id/redeliver",
    { schema: redeliverSchema },
    (request, reply) => redeliver(ctx, request, reply),
  );
};

async function listDeliveries(ctx: AppContext, request: ApiRequest<typeof listSchema>) {
  const batch = await ctx.store.batches.get(request.workspace.id, request.params.id);
  if (!batch) throw notFound("Batch");
  const { limit, offset, status } = request.query;
  const page = await ctx.store.outbox.list(batch.id, { limit, offset, status });
  return pageAnswer(request, page, deliveryToWire, ctx.config.publicUrl);
}

async function redeliver(
  ctx: AppContext,
  request: ApiRequest<typeof redeliverSchema>,
  reply: ApiReply<typeof redeliverSchema>,
) {
  const batch = await ctx.store.batches.get(request.workspace.id, request.params.id);
  if (!batch) throw notFound("Batch");
  const delivery = await ctx.store.outbox.redeliver(batch.id, request.params.delivery_id, Date.now());
  if (!delivery) throw notFound("Webhook delivery");
  request.log.info({ batch_id: batch.id, delivery_id: delivery.id }, "webhook redelivery queued");
  // Wakes the dispatchers (they look for due deliveries when a batch changes).
  ctx.signals.notifyBatchChanged({ batchIds: [batch.id], transitions: [] });
  return reply.code(202).send(ok(deliveryToWire(delivery)));
}
