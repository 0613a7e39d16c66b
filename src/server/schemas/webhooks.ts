/** Request schemas of a batch's webhook deliveries (extension). */
import { Type } from "@sinclair/typebox";
import { PageQuery, Query, StringEnum } from "./common.js";

export const WEBHOOK_DELIVERY_STATUSES = ["pending", "delivered", "failed"] as const;

export const WebhookDeliveryParams = Type.Object({
  id: Type.String({ description: "The batch id" }),
  delivery_id: Type.String({ description: "The delivery id (the webhook-id header)" }),
});

export const ListWebhookDeliveriesQuery = Query({
  ...PageQuery.properties,
  status: Type.Optional(StringEnum(WEBHOOK_DELIVERY_STATUSES)),
});
