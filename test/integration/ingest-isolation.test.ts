/**
 * Background ingest (issue 15, check b): while workspace A's large CSV is ingested, workspace B's
 * requests keep answering and B's batch runs to completion; A's items never run before its whole
 * file is in. Also the row caps (a 400 naming the cap) and a batch left `validating` by a process
 * that died, failed when the next process starts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { questionsCsv, uploadBatchInput } from "../helpers/files.js";
import {
  publishedAgent,
  startTestServer,
  type TestServer,
  testDbUrl,
  waitForBatch,
  waitForIngest,
} from "../helpers/server.js";

const ROWS = Number(process.env.INGEST_ISOLATION_ROWS ?? 200_000);

const inline = (n: number, prefix = "r") =>
  Array.from({ length: n }, (_, i) => ({ custom_id: `${prefix}-${i}`, message: `hello ${i}` }));

function p99(ms: number[]): number {
  const sorted = [...ms].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))];
}

describe("a large file ingests in the background", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => t.close());

  it("B's requests answer and B's batch completes while A's file is still validating", async () => {
    const agentA = await publishedAgent(t);
    const keyB = await t.newWorkspaceKey("b");
    const agentB = await publishedAgent(t, {}, keyB);
    const fileId = await uploadBatchInput(t.url, t.key, questionsCsv(ROWS));
    const created = await t.api("POST", "/api/v1/batches", {
      agent_id: agentA,
      file_id: fileId,
      column_mapping: { custom_id: "Ref", message: "Question" },
    });
    expect(created.status).toBe(202);
    expect(created.body.data.status).toBe("validating");
    const a = created.body.data.id;

    const b = await t.api("POST", "/api/v1/batches", { agent_id: agentB, requests: inline(20) }, keyB);
    expect(b.status).toBe(202);
    const latencies: number[] = [];
    let bDoneWhileAValidating = false;
    for (;;) {
      const t0 = performance.now();
      const gotB = await t.api("GET", `/api/v1/batches/${b.body.data.id}`, undefined, keyB);
      latencies.push(performance.now() - t0);
      expect(gotB.status).toBe(200);
      const gotA = (await t.api("GET", `/api/v1/batches/${a}`)).body.data;
      if (gotA.status !== "validating") break;
      // Nothing of A runs before its whole file is in.
      expect(gotA.completed_requests + gotA.failed_requests).toBe(0);
      if (gotB.body.data.status === "completed") bDoneWhileAValidating = true;
      await new Promise((r) => setTimeout(r, 20));
    }
    console.log(
      `ingest of ${ROWS} rows: B's GET /batches/{id} p99 ${p99(latencies).toFixed(1)} ms over ${latencies.length} requests; B completed during A's ingest: ${bDoneWhileAValidating}`,
    );
    expect(bDoneWhileAValidating).toBe(true);
    expect((await waitForBatch(t, b.body.data.id, keyB)).completed_requests).toBe(20);
    const ingested = await waitForIngest(t, a);
    expect(ingested).toMatchObject({ total_requests: ROWS });
    await t.api("POST", `/api/v1/batches/${a}/cancel`);
  }, 600_000);
});

describe("row caps", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(
      (c) => {
        c.maxRowsPerBatch = 5;
        c.maxRowsPerWorkspace = 8;
      },
      { worker: false },
    );
  });
  afterAll(async () => t.close());

  it("over a cap: a 400 naming it, or a file batch failed naming it", async () => {
    const agent = await publishedAgent(t);
    const big = await t.api("POST", "/api/v1/batches", { agent_id: agent, requests: inline(6) });
    expect(big.status).toBe(400);
    expect(big.body.message).toContain("max_rows_per_batch");
    const fromFile = await t.api("POST", "/api/v1/batches", {
      agent_id: agent,
      file_id: await uploadBatchInput(t.url, t.key, questionsCsv(7)),
    });
    expect(fromFile.status).toBe(202);
    const failed = await waitForIngest(t, fromFile.body.data.id);
    expect(failed).toMatchObject({ status: "failed", total_requests: 0 });
    expect(failed.error_message).toContain("max_rows_per_batch");
    expect((await t.api("POST", "/api/v1/batches", { agent_id: agent, requests: inline(5) })).status).toBe(
      202,
    );
    const over = await t.api("POST", "/api/v1/batches", { agent_id: agent, requests: inline(4, "s") });
    expect(over.status).toBe(400);
    expect(over.body.message).toContain("max_rows_per_workspace");
  });
});

describe("a file that breaks part-way", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(() => {}, { worker: false });
  });
  afterAll(async () => t.close());

  it("a file that breaks after its first rows fails its batch with the parse error", async () => {
    const key = await t.newWorkspaceKey("broken");
    const agent = await publishedAgent(t, {}, key);
    const form = new FormData();
    form.append("purpose", "batch_input");
    // Larger than one read of the file, so rows come before the parser reaches the break.
    const rows = Array.from({ length: 5000 }, (_, i) =>
      JSON.stringify({ custom_id: `r-${i}`, message: "m" }),
    );
    const text = `[${rows.join(",")}, {"custom_id": "broken", "message": `;
    form.append("file", new Blob([text], { type: "application/json" }), "broken.json");
    const up = await fetch(`${t.url}/api/v1/files`, {
      method: "POST",
      headers: { "x-api-key": key },
      body: form,
    });
    const fileId = ((await up.json()) as any).data.id;
    const created = await t.api("POST", "/api/v1/batches", { agent_id: agent, file_id: fileId }, key);
    expect(created.status).toBe(202);
    const failed = await waitForIngest(t, created.body.data.id, key);
    expect(failed).toMatchObject({ status: "failed", total_requests: 0 });
    expect(failed.error_message).toMatch(/^file_id: JSON parse error/);
  });
});

describe("an ingest interrupted by the end of its process", () => {
  it("is failed with a clear message when the next process starts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "agentbatch-ingest-"));
    const db = testDbUrl(dir);
    try {
      const first = await startTestServer(() => {}, { db, worker: false });
      const agent = await publishedAgent(first);
      const ws = (await first.api("GET", `/api/v1/agents/${agent}`)).body.data.workspace_id as string;
      // What a dead process leaves: a validating batch with some rows and an old heartbeat.
      const store = first.service.store;
      const batch = { id: "interrupted-1", workspaceId: ws, agentId: agent, name: null, webhook: null };
      const begun = await store.batches.beginIngest(
        { ...batch, metadata: null, createdAt: 1, expiresAt: Date.now() + 3600_000 },
        undefined,
        1,
      );
      expect(begun.kind).toBe("created");
      await first.close();
      const second = await startTestServer(() => {}, { db, worker: false });
      try {
        const failed = await waitForIngest(second, "interrupted-1", first.key);
        expect(failed.status).toBe("failed");
        expect(failed.error_message).toContain("interrupted");
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
