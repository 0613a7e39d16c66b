/**
 * Fair webhooks (issue 15, check d): workspace A's 2,000 per-request webhooks to a receiver that
 * never answers do not hold back workspace B's batch.completed to another receiver: claims go
 * round-robin across workspace and target host, and a host gets at most its cap of slots.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  publishedAgent,
  startTestServer,
  type TestServer,
  waitFor,
  waitForBatch,
} from "../helpers/server.js";

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Server> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return server;
}

const url = (s: Server, path: string) => `http://127.0.0.1:${(s.address() as AddressInfo).port}${path}`;

describe("a receiver that never answers delays only itself", () => {
  let t: TestServer;
  let hanging: Server;
  let ok: Server;
  let hangingSeen = 0;
  const okSeen: { at: number; body: any }[] = [];

  beforeAll(async () => {
    // Takes every request and never answers.
    hanging = await listen(() => {
      hangingSeen++;
    });
    ok = await listen((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        okSeen.push({ at: Date.now(), body: JSON.parse(Buffer.concat(chunks).toString("utf8")) });
        res.end("ok");
      });
    });
    t = await startTestServer((c) => {
      c.webhooks.allowPrivateTargets = true;
      c.webhooks.timeoutMs = 60_000;
      c.webhooks.pollIntervalMs = 200;
    });
  });
  afterAll(async () => {
    await t.close();
    for (const s of [hanging, ok]) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  it("B's batch.completed arrives while A's 2,000 deliveries to the hanging receiver wait", async () => {
    const agentA = await publishedAgent(t);
    const keyB = await t.newWorkspaceKey("b");
    const agentB = await publishedAgent(t, {}, keyB);
    const hook = { url: url(hanging, "/a"), events: ["request.succeeded"] };
    for (let part = 0; part < 2; part++) {
      const requests = Array.from({ length: 1000 }, (_, i) => ({
        custom_id: `a-${part}-${i}`,
        message: `hi ${i}`,
        webhook: hook,
      }));
      const a = await t.api("POST", "/api/v1/batches", { agent_id: agentA, requests });
      expect(a.status).toBe(202);
      await waitForBatch(t, a.body.data.id, undefined, 300_000);
    }
    // A's 2,000 events are queued (and due) before B's batch even starts.
    const b = await t.api(
      "POST",
      "/api/v1/batches",
      {
        agent_id: agentB,
        requests: [{ custom_id: "b-1", message: "hello" }],
        webhook: { url: url(ok, "/b"), events: ["completed"] },
      },
      keyB,
    );
    expect(b.status).toBe(202);
    const done = await waitForBatch(t, b.body.data.id, keyB);
    const delivered = await waitFor(() => okSeen.find((r) => r.body.data?.id === done.id), {
      timeoutMs: 60_000,
      what: "B's batch.completed",
    });
    const delayMs = delivered.at - new Date(done.completed_at).getTime();
    console.log(
      `B's batch.completed delivered ${delayMs} ms after B completed; the hanging receiver had taken ${hangingSeen} of A's 2,000 deliveries`,
    );
    expect(delivered.body.event).toBe("batch.completed");
    // Without fairness B waits behind A's 2,000 (each holding a slot until its timeout).
    expect(hangingSeen).toBeLessThan(100);
  }, 600_000);
});
