/**
 * The crash test: the built server (`dist/cli/main.js serve`) is killed with SIGKILL while a batch
 * of 1000 requests runs, and restarted on the same SQLite file, several times. Afterwards every
 * request must have exactly one result, every one a success, and the counters must agree.
 * Needs `npm run build` first (`npm test` does it).
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { killHard, mainJs, type RestartableServer, restartableServer } from "../helpers/processes.js";
import { waitFor } from "../helpers/server.js";

const TOTAL = 1000;
/** Cycles of kill + restart while the batch runs, and how many results each waits for first. */
const KILL_AFTER = [150, 500];

describe("crash recovery of the built server", () => {
  const dir = mkdtempSync(join(tmpdir(), "agentbatch-crash-"));
  let node: RestartableServer | undefined;
  const kill = killHard;

  afterAll(async () => {
    await node?.killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it("loses and duplicates nothing across SIGKILLs and restarts", async () => {
    expect(existsSync(mainJs), `${mainJs} is missing: run npm run build`).toBe(true);
    node = await restartableServer({
      db: `sqlite:${join(dir, "db.sqlite")}`,
      dir,
      env: { AGENTBATCH_LEASE_MS: "1500", AGENTBATCH_CONCURRENCY: "16" },
    });
    const { start, api } = node;
    let server = await start();

    const agent = (await api("POST", "/agents", { name: "crash", model: "simulated/echo?latency_ms=30" }))
      .data;
    await api("POST", `/agents/${agent.id}/publish`);
    const batch = (
      await api("POST", "/batches", {
        agent_id: agent.id,
        requests: Array.from({ length: TOTAL }, (_, i) => ({ custom_id: `c-${i}`, message: `message ${i}` })),
      })
    ).data;
    expect(batch.total_requests).toBe(TOTAL);

    const progress: number[] = [];
    for (const threshold of KILL_AFTER) {
      const seen = await waitFor(
        async () => {
          const b = (await api("GET", `/batches/${batch.id}`)).data;
          return b.completed_requests + b.failed_requests >= threshold ? b : null;
        },
        { timeoutMs: 30_000, intervalMs: 20, what: `${threshold} results` },
      );
      progress.push(seen.completed_requests + seen.failed_requests);
      // Killed mid-batch, not after it finished (else the cycle proves nothing).
      expect(seen.status).toBe("in_progress");
      await kill(server);
      server = await start();
    }

    const done = await waitFor(
      async () => {
        const b = (await api("GET", `/batches/${batch.id}`)).data;
        return b.status === "in_progress" ? null : b;
      },
      { timeoutMs: 45_000, intervalMs: 50, what: "the batch to finish after the restarts" },
    );
    expect(done).toMatchObject({
      status: "completed",
      total_requests: TOTAL,
      completed_requests: TOTAL,
      failed_requests: 0,
      pending_requests: 0,
      processing_requests: 0,
    });
    expect(done.completed_requests + done.failed_requests).toBe(done.total_requests);

    const results: any[] = [];
    for (let offset = 0; ; offset += 1000) {
      const page = await api("GET", `/batches/${batch.id}/results?limit=1000&offset=${offset}`);
      results.push(...page.data);
      expect(page.pagination.total_records).toBe(TOTAL);
      if (!page.pagination.next_page) break;
    }
    expect(results).toHaveLength(TOTAL);
    const counts = new Map<string, number>();
    for (const r of results) counts.set(r.custom_id, (counts.get(r.custom_id) ?? 0) + 1);
    for (let i = 0; i < TOTAL; i++) expect(counts.get(`c-${i}`), `c-${i}`).toBe(1);
    expect(counts.size).toBe(TOTAL);
    for (const r of results) {
      expect(r.status, `${r.custom_id}: ${r.error_message}`).toBe("success");
      expect(r.response_content).toBe(`Echo: message ${r.custom_id.slice(2)}`);
    }
    const success = await api("GET", `/batches/${batch.id}/results?status=success&limit=1`);
    expect(success.pagination.total_records).toBe(TOTAL);
    // Some items were in flight at a kill and ran again on a later attempt.
    expect(results.some((r) => r.attempts > 1)).toBe(true);
    // Each chat holds exactly one turn: a result stored twice would have written a second one.
    // The re-run items are the ones at risk; a few others are checked too.
    const chats = new Set(results.map((r) => r.history_id));
    expect(chats.size).toBe(TOTAL);
    for (const r of [...results.filter((x) => x.attempts > 1), ...results.slice(0, 5)]) {
      const messages = await api("GET", `/chats/${r.history_id}/messages`);
      expect(messages.data).toHaveLength(2);
    }
    expect(progress.every((p, i) => i === 0 || p >= progress[i - 1])).toBe(true);
    // Three cold starts of the built server: allow for a loaded CI machine.
  }, 120_000);
});
