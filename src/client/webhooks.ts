/**
 * Webhook signature verification for both schemes agentbatch signs with, on Web Crypto
 * (`crypto.subtle`), so it runs the same in Node 20+, Deno, Bun, workers and browsers.
 *
 * - Codeer (seed 000): `X-Codeer-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{raw body}">`
 *   and `X-Codeer-Timestamp`; the key is the secret's UTF-8 bytes.
 * - Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256
 *   of "{id}.{timestamp}.{raw body}">` (several space-separated signatures allowed); a secret
 *   `whsec_<base64>` is base64-decoded, any other secret is used as UTF-8 bytes.
 */

export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

export interface VerifyWebhookOptions {
  /** Largest accepted age (or clock skew) of the timestamp, in seconds (default 300). */
  toleranceSeconds?: number;
  /** The current time in ms (tests). */
  now?: number;
}

const encoder = new TextEncoder();

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as Headers).get === "function") return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return Array.isArray(value) ? value[0] : value;
}

function bytesOf(body: string | Uint8Array | ArrayBuffer): Uint8Array {
  if (typeof body === "string") return encoder.encode(body);
  return body instanceof Uint8Array ? body : new Uint8Array(body);
}

function concat(prefix: string, body: Uint8Array): Uint8Array {
  const head = encoder.encode(prefix);
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

async function hmacSha256(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey(
    "raw",
    key as BufferSource,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, data as BufferSource));
}

const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const toBase64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));

function fromBase64(s: string): Uint8Array | null {
  try {
    return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

/** Compares in time independent of where the strings differ. */
function safeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** Epoch ms of a timestamp header: seconds, milliseconds or an ISO date. */
function timestampMs(value: string): number | null {
  const n = Number(value);
  if (value.trim() !== "" && Number.isFinite(n)) return n > 1e12 ? n : n * 1000;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : t;
}

function fresh(value: string, options: VerifyWebhookOptions): boolean {
  const at = timestampMs(value);
  if (at === null) return false;
  const tolerance = (options.toleranceSeconds ?? 300) * 1000;
  return Math.abs((options.now ?? Date.now()) - at) <= tolerance;
}

/** The HMAC key of a Standard Webhooks secret. */
function standardKey(secret: string): Uint8Array {
  if (secret.startsWith("whsec_")) {
    const decoded = fromBase64(secret.slice("whsec_".length));
    if (decoded) return decoded;
  }
  return encoder.encode(secret);
}

async function verifyStandard(
  body: Uint8Array,
  headers: WebhookHeaders,
  secret: string,
  options: VerifyWebhookOptions,
): Promise<boolean> {
  const id = header(headers, "webhook-id");
  const timestamp = header(headers, "webhook-timestamp");
  const signatures = header(headers, "webhook-signature");
  if (!id || !timestamp || !signatures || !fresh(timestamp, options)) return false;
  const expected = toBase64(await hmacSha256(standardKey(secret), concat(`${id}.${timestamp}.`, body)));
  return signatures
    .split(" ")
    .filter((s) => s.startsWith("v1,"))
    .some((s) => safeEqual(s.slice(3), expected));
}

async function verifyCodeer(
  body: Uint8Array,
  headers: WebhookHeaders,
  secret: string,
  options: VerifyWebhookOptions,
): Promise<boolean> {
  const signature = header(headers, "x-codeer-signature");
  const timestamp = header(headers, "x-codeer-timestamp");
  if (!signature || !timestamp || !fresh(timestamp, options)) return false;
  const expected = toHex(await hmacSha256(encoder.encode(secret), concat(`${timestamp}.`, body)));
  return safeEqual(signature.trim().toLowerCase(), `sha256=${expected}`);
}

/**
 * Whether a webhook request was signed with `secret` within the last five minutes, by either
 * scheme (whichever headers it carries). Pass the body exactly as received, before any JSON
 * parsing: re-serialised JSON does not verify.
 */
export async function verifyWebhook(
  rawBody: string | Uint8Array | ArrayBuffer,
  headers: WebhookHeaders,
  secret: string,
  options: VerifyWebhookOptions = {},
): Promise<boolean> {
  const body = bytesOf(rawBody);
  if (header(headers, "webhook-signature") && (await verifyStandard(body, headers, secret, options))) {
    return true;
  }
  if (header(headers, "x-codeer-signature") && (await verifyCodeer(body, headers, secret, options))) {
    return true;
  }
  return false;
}
