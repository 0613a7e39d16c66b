/**
 * Webhooks end to end: a real HTTPS receiver with a self-signed certificate (trusted through
 * webhooks.caFile), signatures checked by the seed's Python verify_webhook and by a Standard
 * Webhooks verifier, retries until accepted, delivery after a restart, the private-network guard,
 * per-request events, and the deliveries endpoints.
 */
import { execFileSync } from "node:child_process";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyWebhook } from "../../src/client/index.js";
import type { Config } from "../../src/config/index.js";
import { isPostgresUrl } from "../../src/store/index.js";
import { dropSchema } from "../../src/store/postgres/admin.js";
import {
  publishedAgent,
  startTestServer,
  type TestServer,
  testDbUrl,
  waitFor,
  waitForBatch,
} from "../helpers/server.js";

interface Received {
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  /** The status the receiver answered. */
  answered: number;
}

/** seed 000's verify_webhook, unchanged, run on the received bytes. */
const SEED_VERIFY = `import hmac
import hashlib
import sys

def verify_webhook(payload: bytes, signature: str, timestamp: str, secret: str) -> bool:
    signed_payload = f"{timestamp}.".encode("utf-8") + payload
    expected = hmac.new(
        secret.encode("utf-8"),
        signed_payload,
        hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(f"sha256={expected}", signature)

with open(sys.argv[1], "rb") as f:
    print(verify_webhook(f.read(), sys.argv[2], sys.argv[3], sys.argv[4]))
`;

/** A Standard Webhooks verifier as the spec describes it (any of the space-separated v1 signatures). */
function verifyStandard(secret: string, r: Received, toleranceSeconds = 300): boolean {
  const id = r.headers["webhook-id"];
  const timestamp = r.headers["webhook-timestamp"];
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > toleranceSeconds) return false;
  const key = secret.startsWith("whsec_")
    ? Buffer.from(secret.slice(6), "base64")
    : Buffer.from(secret, "utf8");
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.`).update(r.body).digest();
  return r.headers["webhook-signature"].split(" ").some((part) => {
    const [version, sig] = part.split(",");
    const given = Buffer.from(sig ?? "", "base64");
    return version === "v1" && given.length === expected.length && timingSafeEqual(given, expected);
  });
}

describe("webhooks", () => {
  const dir = mkdtempSync(join(tmpdir(), "agentbatch-webhooks-"));
  const certFile = join(dir, "cert.pem");
  const verifyScript = join(dir, "verify.py");
  const received: Received[] = [];
  /** Per path: how many requests to answer 500 before answering 200. */
  const failFirst = new Map<string, number>();
  let receiver: Server;
  let base = "";
  let t: TestServer;

  const configure = (c: Config) => {
    c.webhooks.allowPrivateTargets = true;
    c.webhooks.caFile = certFile;
    c.webhooks.retryBaseMs = 40;
    c.webhooks.pollIntervalMs = 200;
    c.webhooks.timeoutMs = 3_000;
  };

  const at = (path: string) => received.filter((r) => r.path === path);
  /** Waits until `count` requests reached `path`, and returns them. */
  const arrived = async (path: string, count = 1): Promise<Received[]> => {
    await waitFor(() => at(path).length >= count, { what: `${count} request(s) at ${path}` });
    return at(path);
  };
  const json = (r: Received) => JSON.parse(r.body.toString("utf8"));
  const pythonVerifies = (r: Received, secret: string): boolean => {
    const file = join(dir, `body-${randomBytes(4).toString("hex")}.json`);
    writeFileSync(file, r.body);
    const out = execFileSync("python3", [
      verifyScript,
      file,
      r.headers["x-codeer-signature"],
      r.headers["x-codeer-timestamp"],
      secret,
    ]);
    return out.toString().trim() === "True";
  };
  const deliveries = async (server: TestServer, batchId: string) =>
    (await server.api("GET", `/api/v1/batches/${batchId}/webhook-deliveries?limit=100`)).body;

  beforeAll(async () => {
    const keyFile = join(dir, "key.pem");
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        keyFile,
        "-out",
        certFile,
        "-subj",
        "/CN=localhost",
        "-days",
        "1",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
      ],
      { stdio: "ignore" },
    );
    writeFileSync(verifyScript, SEED_VERIFY);
    receiver = createServer({ key: readFileSync(keyFile), cert: readFileSync(certFile) }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const path = req.url ?? "/";
        const left = failFirst.get(path) ?? 0;
        const answered = left > 0 ? 500 : 200;
        if (left > 0) failFirst.set(path, left - 1);
        received.push({
          path,
          headers: req.headers as Record<string, string>,
          body: Buffer.concat(chunks),
          answered,
        });
        res.writeHead(answered, { "content-type": "text/plain" }).end(answered === 200 ? "ok" : "try later");
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    base = `https://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    t = await startTestServer(configure);
  });

  afterAll(async () => {
    await t?.close();
    await new Promise((r) => receiver.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it("sends batch.completed with the seed's payload, signed by both schemes", async () => {
    const agentId = await publishedAgent(t);
    const secret = "your-webhook-secret";
    const created = await t.api("POST", "/api/v1/batches", {
      agent_id: agentId,
      requests: [
        { custom_id: "req-001", message: "What are your business hours?" },
        { custom_id: "req-002", message: "How do I return a product?" },
      ],
      webhook: { url: `${base}/signed`, events: ["completed", "failed"], secret },
    });
    expect(created.status).toBe(202);
    const batchId = created.body.data.id;
    const [r] = await arrived("/signed");

    expect(json(r)).toEqual({
      event: "batch.completed",
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      data: {
        id: batchId,
        status: "completed",
        total_requests: 2,
        completed_requests: 2,
        failed_requests: 0,
      },
    });
    expect(r.headers["content-type"]).toBe("application/json");
    expect(r.headers["user-agent"]).toMatch(/^agentbatch-webhooks\//);
    expect(r.headers["webhook-id"]).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(r.headers["x-codeer-signature"]).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(pythonVerifies(r, secret)).toBe(true);
    expect(pythonVerifies({ ...r, body: Buffer.concat([r.body, Buffer.from(" ")]) }, secret)).toBe(false);
    expect(pythonVerifies(r, "another-secret")).toBe(false);
    expect(verifyStandard(secret, r)).toBe(true);
    expect(verifyStandard("another-secret", r)).toBe(false);

    const list = await waitFor(async () => {
      const body = await deliveries(t, batchId);
      return body.data?.[0]?.status === "delivered" ? body : null;
    });
    expect(list.pagination).toMatchObject({ total_records: 1 });
    expect(list.data[0]).toMatchObject({
      id: r.headers["webhook-id"],
      event: "batch.completed",
      url: `${base}/signed`,
      status: "delivered",
      attempts: 1,
      last_status_code: 200,
      last_error: null,
      next_attempt_at: null,
    });
    expect(JSON.stringify(list.data[0])).not.toContain(secret);

    // Redeliver: the same delivery id again, now; an unknown one is a 404.
    const again = await t.api(
      "POST",
      `/api/v1/batches/${batchId}/webhook-deliveries/${r.headers["webhook-id"]}/redeliver`,
    );
    expect(again.status).toBe(202);
    expect(again.body.data).toMatchObject({ id: r.headers["webhook-id"], status: "pending", attempts: 0 });
    await arrived("/signed", 2);
    expect(at("/signed")[1].headers["webhook-id"]).toBe(r.headers["webhook-id"]);
    expect(verifyStandard(secret, at("/signed")[1])).toBe(true);
    const missing = await t.api("POST", `/api/v1/batches/${batchId}/webhook-deliveries/msg_nope/redeliver`);
    expect(missing.status).toBe(404);
    expect((await t.api("GET", "/api/v1/batches/nope/webhook-deliveries")).status).toBe(404);
  });

  it("uses the base64 key of a whsec_ secret for Standard Webhooks, the raw secret for the seed's scheme", async () => {
    const agentId = await publishedAgent(t);
    const secret = `whsec_${randomBytes(24).toString("base64")}`;
    await t.api("POST", "/api/v1/batches", {
      agent_id: agentId,
      requests: [{ custom_id: "a", message: "hi" }],
      webhook: { url: `${base}/whsec`, events: ["completed"], secret },
    });
    const [r] = await arrived("/whsec");
    expect(verifyStandard(secret, r)).toBe(true);
    expect(pythonVerifies(r, secret)).toBe(true);
    // The TypeScript client's verifier accepts it too, and only with the right secret.
    expect(await verifyWebhook(r.body, r.headers, secret)).toBe(true);
    expect(await verifyWebhook(r.body, r.headers, "whsec_AAAA")).toBe(false);
  });

  it("retries a failing receiver with the same webhook-id until it accepts, then stops", async () => {
    const agentId = await publishedAgent(t);
    failFirst.set("/flaky", 3);
    const created = await t.api("POST", "/api/v1/batches", {
      agent_id: agentId,
      requests: [{ custom_id: "a", message: "hi" }],
      webhook: { url: `${base}/flaky`, events: ["completed"], secret: "s" },
    });
    const batchId = created.body.data.id;
    const delivery = await waitFor(
      async () => {
        const d = (await deliveries(t, batchId)).data?.[0];
        return d?.status === "delivered" ? d : null;
      },
      { what: "the delivery to be accepted" },
    );
    const attempts = at("/flaky");
    expect(attempts.map((a) => a.answered)).toEqual([500, 500, 500, 200]);
    expect(new Set(attempts.map((a) => a.headers["webhook-id"]))).toEqual(new Set([delivery.id]));
    for (const a of attempts) expect(verifyStandard("s", a)).toBe(true);
    expect(delivery).toMatchObject({ attempts: 4, last_status_code: 200, last_error: null });
    expect(attempts.filter((a) => a.answered === 200)).toHaveLength(1);
  });

  it("sends request.failed for every failed request, to the batch webhook and a request's own", async () => {
    const agentId = await publishedAgent(t, { model: "simulated/fail-400" });
    const created = await t.api("POST", "/api/v1/batches", {
      agent_id: agentId,
      requests: [
        { custom_id: "r1", message: "one" },
        { custom_id: "r2", message: "two", webhook: { url: `${base}/own`, secret: "own-secret" } },
        { custom_id: "r3", message: "three" },
      ],
      webhook: {
        url: `${base}/per-request`,
        events: ["request.failed", "completed"],
        secret: "batch-secret",
      },
    });
    expect(created.status).toBe(202);
    const batchId = created.body.data.id;
    await waitForBatch(t, batchId);
    const events = (await arrived("/per-request", 4)).map(json);
    await arrived("/own");
    const failed = events.filter((e) => e.event === "request.failed");
    expect(failed.map((e) => e.data.custom_id).sort()).toEqual(["r1", "r2", "r3"]);
    for (const e of failed) {
      expect(e.data).toMatchObject({
        batch_id: batchId,
        status: "failed",
        error_code: 400,
        result: { response_content: null, history_id: null },
      });
      expect(typeof e.data.error_message).toBe("string");
    }
    expect(events.find((e) => e.event === "batch.completed")?.data).toMatchObject({
      id: batchId,
      failed_requests: 3,
    });
    const own = at("/own");
    expect(own).toHaveLength(1);
    expect(json(own[0]).data).toMatchObject({ custom_id: "r2", error_code: 400 });
    expect(verifyStandard("own-secret", own[0])).toBe(true);
    expect(pythonVerifies(own[0], "own-secret")).toBe(true);
    for (const r of at("/per-request")) expect(pythonVerifies(r, "batch-secret")).toBe(true);
    expect((await deliveries(t, batchId)).pagination.total_records).toBe(5);
  });

  it("queues batch.cancelled and request.failed for requests a cancel fails (499)", async () => {
    // No engine: every request is still pending when the cancel comes.
    const idle = await startTestServer(configure, { worker: false });
    try {
      const agentId = await publishedAgent(idle);
      const created = await idle.api("POST", "/api/v1/batches", {
        agent_id: agentId,
        requests: [
          { custom_id: "c1", message: "one" },
          {
            custom_id: "c2",
            message: "two",
            webhook: { url: `${base}/own-cancel`, events: ["request.succeeded"] },
          },
        ],
        webhook: { url: `${base}/cancel`, events: ["cancelled", "request.failed"] },
      });
      const batchId = created.body.data.id;
      expect((await idle.api("POST", `/api/v1/batches/${batchId}/cancel`)).body.data.status).toBe(
        "cancelled",
      );
      const list = (await deliveries(idle, batchId)).data;
      expect(list.map((d: any) => [d.event, d.custom_id]).sort()).toEqual([
        ["batch.cancelled", null],
        ["request.failed", "c1"],
        ["request.failed", "c2"],
      ]);
      expect(list.every((d: any) => d.status === "pending" && d.url.endsWith("/cancel"))).toBe(true);
    } finally {
      await idle.close();
    }
  });

  it("validates per-request webhooks like the batch's", async () => {
    const agentId = await publishedAgent(t);
    const bad = await t.api("POST", "/api/v1/batches", {
      agent_id: agentId,
      requests: [{ custom_id: "a", message: "hi", webhook: { url: "ftp://example.com/x" } }],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toBe("requests[0].webhook.url: must be an https URL");
    const badEvent = await t.api("POST", "/api/v1/batches", {
      agent_id: agentId,
      requests: [{ custom_id: "a", message: "hi", webhook: { url: `${base}/x`, events: ["completed"] } }],
    });
    expect(badEvent.status).toBe(400);
    expect(badEvent.body.message).toContain("requests[0].webhook.events[0]");
  });

  it("refuses targets on private addresses unless allowed, and says why", async () => {
    const strict = await startTestServer((c) => {
      configure(c);
      c.webhooks.allowPrivateTargets = false;
    });
    try {
      const agentId = await publishedAgent(strict);
      const port = (receiver.address() as AddressInfo).port;
      const created = await strict.api("POST", "/api/v1/batches", {
        agent_id: agentId,
        requests: [
          { custom_id: "a", message: "hi", webhook: { url: `https://localhost:${port}/guard-name` } },
        ],
        webhook: { url: `${base}/guard`, events: ["completed"] },
      });
      const batchId = created.body.data.id;
      const list = await waitFor(
        async () => {
          const body = await deliveries(strict, batchId);
          return body.data?.length === 2 && body.data.every((d: any) => d.status === "failed")
            ? body.data
            : null;
        },
        { what: "both deliveries to be refused" },
      );
      const byUrl = Object.fromEntries(list.map((d: any) => [new URL(d.url).pathname, d]));
      expect(byUrl["/guard"]).toMatchObject({ attempts: 1, last_status_code: null });
      expect(byUrl["/guard"].last_error).toMatch(/^refused: 127\.0\.0\.1 is a loopback address/);
      expect(byUrl["/guard-name"].last_error).toMatch(
        /^refused: localhost \(resolves to .+\) is a loopback address/,
      );
      expect(at("/guard")).toHaveLength(0);
      expect(at("/guard-name")).toHaveLength(0);
    } finally {
      await strict.close();
    }
  });

  it("delivers an event whose state change committed before the process stopped", async () => {
    const dbDir = mkdtempSync(join(tmpdir(), "agentbatch-webhooks-db-"));
    const db = testDbUrl(dbDir);
    try {
      // First life: the batch completes, but no dispatcher runs (as if killed before the send).
      const first = await startTestServer(
        (c) => {
          configure(c);
          c.webhooks.dispatch = false;
        },
        { db },
      );
      const agentId = await publishedAgent(first);
      const created = await first.api("POST", "/api/v1/batches", {
        agent_id: agentId,
        requests: [{ custom_id: "a", message: "hi" }],
        webhook: { url: `${base}/restart`, events: ["completed"], secret: "s" },
      });
      const batchId = created.body.data.id;
      await waitForBatch(first, batchId);
      const queued = (await deliveries(first, batchId)).data;
      expect(queued).toHaveLength(1);
      expect(queued[0]).toMatchObject({ event: "batch.completed", status: "pending", attempts: 0 });
      await first.close();
      expect(at("/restart")).toHaveLength(0);

      // Second life on the same database: the outbox row is sent.
      const second = await startTestServer(configure, { db });
      try {
        const [r] = await arrived("/restart");
        expect(r.headers["webhook-id"]).toBe(queued[0].id);
        expect(json(r).data).toMatchObject({ id: batchId, status: "completed" });
        expect(verifyStandard("s", r)).toBe(true);
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dbDir, { recursive: true, force: true });
      if (isPostgresUrl(db)) await dropSchema(db);
    }
  });
});
