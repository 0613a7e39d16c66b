import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { verifyWebhook } from "../../src/client/index.js";
import { deliveryHeaders } from "../../src/webhooks/signing.js";

const body = JSON.stringify({
  event: "batch.completed",
  timestamp: "2025-01-01T00:00:00Z",
  data: { id: "b1" },
});
const now = Date.now();
const ts = String(Math.floor(now / 1000));

function codeerHeaders(secret: string, timestamp = ts, payload = body) {
  const hex = createHmac("sha256", secret).update(`${timestamp}.${payload}`).digest("hex");
  return { "X-Codeer-Signature": `sha256=${hex}`, "X-Codeer-Timestamp": timestamp };
}

function standardHeaders(key: Buffer, id = "msg_1", timestamp = ts, payload = body) {
  const b64 = createHmac("sha256", key).update(`${id}.${timestamp}.${payload}`).digest("base64");
  return { "webhook-id": id, "webhook-timestamp": timestamp, "webhook-signature": `v1,${b64}` };
}

describe("verifyWebhook", () => {
  it("verifies the Codeer scheme (seed 000) and rejects a wrong secret or a changed body", async () => {
    const headers = codeerHeaders("s3cret");
    expect(await verifyWebhook(body, headers, "s3cret")).toBe(true);
    expect(await verifyWebhook(new TextEncoder().encode(body), new Headers(headers), "s3cret")).toBe(true);
    expect(await verifyWebhook(body, headers, "other")).toBe(false);
    expect(await verifyWebhook(`${body} `, headers, "s3cret")).toBe(false);
  });

  it("verifies Standard Webhooks with a whsec_ secret (base64 key) and with a plain secret", async () => {
    const raw = Buffer.from("0123456789abcdef0123456789abcdef");
    const whsec = `whsec_${raw.toString("base64")}`;
    expect(await verifyWebhook(body, standardHeaders(raw), whsec)).toBe(true);
    expect(await verifyWebhook(body, standardHeaders(Buffer.from("plain")), "plain")).toBe(true);
    expect(await verifyWebhook(body, standardHeaders(raw), "whsec_AAAA")).toBe(false);
    // Several signatures (key rotation): any one matching verifies.
    const h = standardHeaders(raw);
    h["webhook-signature"] = `v1,AAAA ${h["webhook-signature"]}`;
    expect(await verifyWebhook(body, h, whsec)).toBe(true);
  });

  it("rejects timestamps more than five minutes away", async () => {
    const old = String(Math.floor(now / 1000) - 301);
    expect(await verifyWebhook(body, codeerHeaders("s", old), "s")).toBe(false);
    expect(await verifyWebhook(body, standardHeaders(Buffer.from("s"), "m", old), "s")).toBe(false);
    expect(await verifyWebhook(body, codeerHeaders("s", old), "s", { toleranceSeconds: 600 })).toBe(true);
  });

  it("rejects a request with no signature", async () => {
    expect(await verifyWebhook(body, { "content-type": "application/json" }, "s")).toBe(false);
  });

  it("verifies what the server's webhook sender signs, by both schemes", async () => {
    for (const secret of ["s3cret", `whsec_${Buffer.from("k".repeat(24)).toString("base64")}`]) {
      const all = deliveryHeaders({ id: "d1", event: "batch.completed", payload: body, secret }, now);
      expect(await verifyWebhook(body, all, secret)).toBe(true);
      const codeerOnly = {
        "x-codeer-signature": all["x-codeer-signature"],
        "x-codeer-timestamp": all["x-codeer-timestamp"],
      };
      expect(await verifyWebhook(body, codeerOnly, secret)).toBe(true);
      const standardOnly = { ...all, "x-codeer-signature": undefined };
      expect(await verifyWebhook(body, standardOnly, secret)).toBe(true);
    }
  });
});
