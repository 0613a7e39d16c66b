/**
 * The two signature schemes every delivery carries at once:
 * - the seed's (Codeer): `X-Codeer-Signature: sha256=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>`
 *   with `X-Codeer-Timestamp`, the key being the secret's UTF-8 bytes;
 * - Standard Webhooks: `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`
 *   with `webhook-id` and `webhook-timestamp`, the key being the base64-decoded rest of a
 *   `whsec_...` secret, or the secret's UTF-8 bytes otherwise.
 */
import { createHmac } from "node:crypto";
import { createRequire } from "node:module";

const version = (createRequire(import.meta.url)("../../package.json") as { version: string }).version;
export const USER_AGENT = `agentbatch-webhooks/${version}`;

const STANDARD_SECRET_PREFIX = "whsec_";

export function codeerSignature(secret: string, timestamp: string, body: string): string {
  const hex = createHmac("sha256", Buffer.from(secret, "utf8")).update(`${timestamp}.${body}`).digest("hex");
  return `sha256=${hex}`;
}

/** The HMAC key of a Standard Webhooks signature for this secret. */
export function standardKey(secret: string): Buffer {
  return secret.startsWith(STANDARD_SECRET_PREFIX)
    ? Buffer.from(secret.slice(STANDARD_SECRET_PREFIX.length), "base64")
    : Buffer.from(secret, "utf8");
}

export function standardSignature(secret: string, id: string, timestamp: string, body: string): string {
  const b64 = createHmac("sha256", standardKey(secret)).update(`${id}.${timestamp}.${body}`).digest("base64");
  return `v1,${b64}`;
}

/** The headers of one attempt: ids and timestamps always, signatures when the target has a secret. */
export function deliveryHeaders(
  delivery: { id: string; event: string; payload: string; secret: string | null },
  nowMs: number,
): Record<string, string> {
  const timestamp = String(Math.floor(nowMs / 1000));
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "user-agent": USER_AGENT,
    "webhook-id": delivery.id,
    "webhook-timestamp": timestamp,
    "x-codeer-timestamp": timestamp,
    "x-agentbatch-event": delivery.event,
  };
  if (delivery.secret) {
    headers["x-codeer-signature"] = codeerSignature(delivery.secret, timestamp, delivery.payload);
    headers["webhook-signature"] = standardSignature(
      delivery.secret,
      delivery.id,
      timestamp,
      delivery.payload,
    );
  }
  return headers;
}
