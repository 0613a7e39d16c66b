/** How a batch's webhook deliveries look on the wire (extension). */
import { iso } from "../../domain/time.js";
import type { WebhookDelivery } from "../../store/types.js";

/** A delivery as the API shows it: its history, never its secret or body. */
export function deliveryToWire(d: WebhookDelivery) {
  return {
    id: d.id,
    event: d.event,
    custom_id: d.customId,
    url: d.url,
    status: d.status,
    attempts: d.attempts,
    last_status_code: d.lastStatusCode,
    last_error: d.lastError,
    next_attempt_at: d.status === "pending" ? iso(d.nextAttemptAt) : null,
    created_at: iso(d.createdAt),
    delivered_at: iso(d.deliveredAt),
  };
}
