import type {
  DeliveryAttemptResult,
  FairClaim,
  WebhookDelivery,
  WebhookDeliveryQuery,
  WebhookOutbox,
} from "../outbox.js";
import type { Page } from "../page.js";
import { marks, type Row, type SqlDriver, skipLocked } from "./driver.js";
import { n, nOrNull } from "./rows.js";

/** The dispatcher's side of the outbox: claims, attempt results, hand-backs and redeliveries. */
function toDelivery(r: Row): WebhookDelivery {
  return {
    id: r.id,
    workspaceId: r.workspace_id,
    batchId: r.batch_id,
    customId: r.custom_id ?? null,
    event: r.event,
    payload: r.payload,
    url: r.url,
    targetHost: r.target_host,
    secret: r.secret ?? null,
    status: r.status,
    attempts: n(r.attempts),
    nextAttemptAt: n(r.next_attempt_at),
    retrySince: n(r.retry_since),
    lastStatusCode: nOrNull(r.last_status_code),
    lastError: r.last_error ?? null,
    createdAt: n(r.created_at),
    deliveredAt: nOrNull(r.delivered_at),
  };
}

/**
 * Due deliveries a claim shares out (the earliest ones, by the due index): bounds the cost of a
 * claim whatever the backlog. Full hosts are left out before this window, so a backlog to a
 * host that hangs does not fill it.
 */
const FAIR_WINDOW = 5000;

/** ` AND target_host NOT IN (...)` for the hosts to leave out, or nothing. */
function hostFilter(hosts: string[]): { sql: string; params: string[] } {
  if (hosts.length === 0) return { sql: "", params: [] };
  return { sql: ` AND target_host NOT IN (${marks(hosts.length)})`, params: hosts };
}

/** Longest `last_error` kept. */
const MAX_ERROR_CHARS = 1000;

export class SqlOutbox implements WebhookOutbox {
  constructor(private readonly db: SqlDriver) {}

  async claimDue(
    owner: string,
    limit: number,
    leaseMs: number,
    now: number,
    fair: FairClaim = { perTarget: limit, skipHosts: [] },
  ): Promise<WebhookDelivery[]> {
    const skip = hostFilter(fair.skipHosts);
    // Rank the earliest due deliveries within their (workspace, host) group, take rank 1 of
    // every group first; other claimers skip locked rows (the same pattern as the item claim).
    const rows = await this.db.all(
      `UPDATE webhook_deliveries SET lease_owner = ?, lease_expires_at = ?, next_attempt_at = ?, attempts = attempts + 1
       WHERE id IN (
         SELECT id FROM webhook_deliveries WHERE id IN (
           SELECT id FROM (
             SELECT id, next_attempt_at, ROW_NUMBER() OVER (
               PARTITION BY workspace_id, target_host ORDER BY next_attempt_at, id) AS rank
             FROM (
               SELECT id, workspace_id, target_host, next_attempt_at FROM webhook_deliveries
               WHERE status = 'pending' AND next_attempt_at <= ?${skip.sql}
               ORDER BY next_attempt_at LIMIT ${FAIR_WINDOW}
             ) due
           ) ranked WHERE rank <= ? ORDER BY rank, next_attempt_at LIMIT ?
         )${skipLocked(this.db)})
       RETURNING *`,
      [owner, now + leaseMs, now + leaseMs, now, ...skip.params, fair.perTarget, limit],
    );
    return rows.map(toDelivery);
  }

  async recordAttempt(
    id: string,
    owner: string,
    attempt: number,
    result: DeliveryAttemptResult,
    now: number,
  ): Promise<boolean> {
    const fence = "WHERE id = ? AND lease_owner = ? AND attempts = ? AND status = 'pending'";
    const error = result.kind === "delivered" ? null : result.error.slice(0, MAX_ERROR_CHARS);
    const status =
      result.kind === "delivered" ? "delivered" : result.kind === "failed" ? "failed" : "pending";
    const changed = await this.db.run(
      `UPDATE webhook_deliveries SET status = ?, last_status_code = ?, last_error = ?, next_attempt_at = ?,
         delivered_at = ?, lease_owner = NULL, lease_expires_at = NULL ${fence}`,
      [
        status,
        result.statusCode,
        error,
        result.kind === "retry" ? result.nextAttemptAt : now,
        result.kind === "delivered" ? now : null,
        id,
        owner,
        attempt,
      ],
    );
    return changed > 0;
  }

  async release(owner: string, claims: { id: string; attempt: number }[], now: number): Promise<void> {
    for (const c of claims) {
      await this.db.run(
        `UPDATE webhook_deliveries SET next_attempt_at = ?, attempts = attempts - 1, lease_owner = NULL,
           lease_expires_at = NULL WHERE id = ? AND lease_owner = ? AND attempts = ? AND status = 'pending'`,
        [now, c.id, owner, c.attempt],
      );
    }
  }

  async nextDueAt(skipHosts: string[] = []): Promise<number | null> {
    const skip = hostFilter(skipHosts);
    const row = await this.db.get(
      `SELECT MIN(next_attempt_at) AS t FROM webhook_deliveries WHERE status = 'pending'${skip.sql}`,
      skip.params,
    );
    return nOrNull(row?.t);
  }

  async list(batchId: string, query: WebhookDeliveryQuery): Promise<Page<WebhookDelivery>> {
    const filter = query.status ? " AND status = ?" : "";
    const params = query.status ? [batchId, query.status] : [batchId];
    const rows = await this.db.all(
      `SELECT * FROM webhook_deliveries WHERE batch_id = ?${filter} ORDER BY created_at, id LIMIT ? OFFSET ?`,
      [...params, query.limit, query.offset],
    );
    const total = (await this.db.get(
      `SELECT COUNT(*) AS c FROM webhook_deliveries WHERE batch_id = ?${filter}`,
      params,
    )) as Row;
    return { rows: rows.map(toDelivery), total: n(total.c) };
  }

  async redeliver(batchId: string, deliveryId: string, now: number): Promise<WebhookDelivery | undefined> {
    // attempts = 0 also fences off the result of an attempt still in flight.
    const row = await this.db.get(
      `UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, retry_since = ?,
         delivered_at = NULL, lease_owner = NULL, lease_expires_at = NULL
       WHERE id = ? AND batch_id = ? RETURNING *`,
      [now, now, deliveryId, batchId],
    );
    return row ? toDelivery(row) : undefined;
  }
}
