/**
 * Crash recovery of tool-using items: the built server is killed with SIGKILL while a batch of
 * items that each call an http tool runs, and restarted on the same SQLite file. Every item must
 * end with exactly one result, and the tool receiver must have seen exactly the calls stored in
 * the transcripts (a call in flight at a kill is sent again with the same call id, never a new
 * one). Needs `npm run build` first.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { killHard, mainJs, type RestartableServer, restartableServer } from "../helpers/processes.js";
import { waitFor } from "../helpers/server.js";
import { startToolReceiver, type ToolReceiver } from "../helpers/tool-receiver.js";

const TOTAL = 300;
const KILL_AFTER = [60, 180];

describe("crash recovery of tool-using items", () => {
  const dir = mkdtempSync(join(tmpdir(), "agentbatch-tools-crash-"));
  let receiver: ToolReceiver;
  let node: RestartableServer | undefined;

  afterAll(async () => {
    await node?.killAll();
    await receiver?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("stores one result per item and fetches each stored tool call under one call id", async () => {
    expect(existsSync(mainJs), `${mainJs} is missing: run npm run build`).toBe(true);
    receiver = await startToolReceiver("crash-secret");
    receiver.delayMs = 40;
    node = await restartableServer({
      db: `sqlite:${join(dir, "db.sqlite")}`,
      dir,
      env: {
        AGENTBATCH_LEASE_MS: "1500",
        AGENTBATCH_CONCURRENCY: "16",
        AGENTBATCH_TOOLS_TRUSTED_ORIGINS: receiver.origin,
      },
    });
    const { start, api } = node;
    let server = await start();
    const agent = (
      await api("POST", "/agents", {
        name: "crash tools",
        model: "simulated/echo?latency_ms=20",
        tools: [
          {
            type: "http",
            name: "lookup",
            parameters: { type: "object", properties: { q: { type: "string" } }, required: ["q"] },
            url: receiver.url,
            secret: "crash-secret",
          },
        ],
      })
    ).data;
    await api("POST", `/agents/${agent.id}/publish`);
    const requests = Array.from({ length: TOTAL }, (_, i) => ({
      custom_id: `c-${i}`,
      message: `message ${i}`,
    }));
    const batch = (await api("POST", "/batches", { agent_id: agent.id, requests })).data;

    for (const threshold of KILL_AFTER) {
      const seen = await waitFor(
        async () => {
          const b = (await api("GET", `/batches/${batch.id}`)).data;
          return b.completed_requests + b.failed_requests >= threshold ? b : null;
        },
        { timeoutMs: 60_000, intervalMs: 20, what: `${threshold} results` },
      );
      expect(seen.status).toBe("in_progress");
      await killHard(server);
      server = await start();
    }
    const done = await waitFor(
      async () => {
        const b = (await api("GET", `/batches/${batch.id}`)).data;
        return b.status === "in_progress" ? null : b;
      },
      { timeoutMs: 90_000, intervalMs: 50, what: "the batch to finish after the restarts" },
    );
    expect(done).toMatchObject({ status: "completed", completed_requests: TOTAL, failed_requests: 0 });

    const results = (await api("GET", `/batches/${batch.id}/results?limit=1000`)).data as any[];
    expect(results).toHaveLength(TOTAL);
    expect(new Set(results.map((r) => r.custom_id)).size).toBe(TOTAL);
    const stored = new Map<string, string>();
    for (const r of results) {
      expect(r.status).toBe("success");
      expect(r.response_usage.total_calls).toBe(2);
      const steps = (await api("GET", `/batches/${batch.id}/results/${r.custom_id}/steps`)).data.steps;
      expect(steps.map((s: any) => s.type)).toEqual(["model", "tool", "model"]);
      expect(steps[1].call_id).toBe(steps[0].tool_calls[0].call_id);
      stored.set(steps[1].call_id, r.custom_id);
    }
    // Every call the receiver saw is the stored call of its item; each stored call reached it.
    const received = new Map<string, number>();
    for (const c of receiver.calls) {
      expect(c.signaturesValid).toBe(true);
      expect(c.idempotencyKey).toBe(c.callId);
      expect(stored.get(c.callId), `call ${c.callId} is not in any transcript`).toBe(c.body.custom_id);
      received.set(c.callId, (received.get(c.callId) ?? 0) + 1);
    }
    expect(received.size).toBe(TOTAL);
    const duplicates = [...received.values()].filter((n) => n > 1).length;
    // Only calls in flight at one of the kills can be sent twice.
    expect(duplicates).toBeLessThanOrEqual(16 * KILL_AFTER.length);
    console.log(
      `tool calls received: ${receiver.calls.length}, distinct: ${received.size}, sent twice: ${duplicates}`,
    );
  }, 180_000);
});
