/**
 * At thousands of slots, with the group sizes unset, the engine claims and commits in larger groups
 * (`claimGroupOf`, `commitGroupOf`: 500 and 400 at 10,000 slots, up to four commit groups merged
 * in one transaction): every result is stored once and the batch's counters are exact, on both stores.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishedAgent, startTestServer, type TestServer, waitFor } from "../helpers/server.js";

const ITEMS = 3000;

describe("large claim and commit groups", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer((c) => {
      c.engine.concurrency = 10_000;
      // The engine in this thread, as on PostgreSQL (auto would give it a thread of its own on SQLite).
      c.engine.thread = false;
    });
  });
  afterAll(async () => t.close());

  it("stores every result of a few thousand calls in flight at once", async () => {
    const agent = await publishedAgent(t, { model: "simulated/echo?latency_ms=300" });
    // Three batches of 1,000 (the most one request takes), all in flight at once.
    const ids: string[] = [];
    for (let b = 0; b < ITEMS / 1000; b++) {
      const requests = Array.from({ length: 1000 }, (_, i) => ({
        custom_id: `r-${b * 1000 + i}`,
        message: `Q ${b * 1000 + i}`,
      }));
      const created = await t.api("POST", "/api/v1/batches", { agent_id: agent, requests });
      expect(created.status, JSON.stringify(created.body)).toBe(202);
      ids.push(created.body.data.id);
    }
    for (const id of ids) {
      let batch: any;
      await waitFor(
        async () => {
          batch = (await t.api("GET", `/api/v1/batches/${id}`)).body.data;
          return batch.status === "completed";
        },
        { what: "the batch's completion" },
      );
      expect(batch).toMatchObject({
        completed_requests: 1000,
        failed_requests: 0,
        processing_requests: 0,
        pending_requests: 0,
      });
      expect(batch.usage.prompt_tokens).toBeGreaterThan(0);
      const res = await fetch(`${t.url}/api/v1/batches/${id}/results?format=jsonl`, {
        headers: { "x-api-key": t.key },
      });
      expect(res.status).toBe(200);
      const lines = (await res.text()).split("\n").filter(Boolean);
      const seen = new Set<string>();
      for (const line of lines) {
        const r = JSON.parse(line);
        expect(r.status).toBe("success");
        seen.add(r.custom_id);
      }
      expect(lines).toHaveLength(1000);
      expect(seen.size).toBe(1000);
    }
  });
});
