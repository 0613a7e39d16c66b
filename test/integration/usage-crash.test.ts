/**
 * Usage and cost are counted once per successful item, also across crashes: the built server
 * (`dist/cli/main.js serve`, short leases) is killed with SIGKILL while a batch runs and
 * restarted on the same database; afterwards the batch's `usage` and `total_cost` must equal the
 * sum over its items' `response_usage` (priced by the default price table).
 * Needs `npm run build` first (`npm test` does it).
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isPostgresUrl } from "../../src/store/index.js";
import { dropSchema } from "../../src/store/postgres/admin.js";
import { killHard, mainJs, type RestartableServer, restartableServer } from "../helpers/processes.js";
import { testDbUrl, waitFor } from "../helpers/server.js";

const TOTAL = 200;

describe("usage totals across a crash", () => {
  const dir = mkdtempSync(join(tmpdir(), "agentbatch-usage-"));
  const db = testDbUrl(dir);
  let node: RestartableServer | undefined;
  const kill = killHard;

  afterAll(async () => {
    await node?.killAll();
    rmSync(dir, { recursive: true, force: true });
    if (isPostgresUrl(db)) await dropSchema(db);
  });

  it("batch usage and cost equal the sum over items after SIGKILL and restart", async () => {
    expect(existsSync(mainJs), `${mainJs} is missing: run npm run build`).toBe(true);
    node = await restartableServer({
      db,
      dir,
      env: { AGENTBATCH_LEASE_MS: "1000", AGENTBATCH_CONCURRENCY: "16" },
    });
    const { start, api } = node;
    let server = await start();
    // A priced model name (gpt-4o-mini in the default price table) on the simulator.
    const agent = (
      await api("POST", "/agents", { name: "usage", model: "simulated/gpt-4o-mini?latency_ms=200" })
    ).data;
    await api("POST", `/agents/${agent.id}/publish`);
    const batch = (
      await api("POST", "/batches", {
        agent_id: agent.id,
        requests: Array.from({ length: TOTAL }, (_, i) => ({
          custom_id: `u-${i}`,
          message: `message ${i} `.repeat((i % 5) + 1),
        })),
      })
    ).data;

    const seen = await waitFor(
      async () => {
        const b = (await api("GET", `/batches/${batch.id}`)).data;
        // Kill while items are claimed, so that some of them surely run a second time.
        return b.completed_requests >= TOTAL / 3 && b.processing_requests > 0 ? b : null;
      },
      { timeoutMs: 30_000, intervalMs: 20, what: "a third of the results, with items in flight" },
    );
    expect(seen.status).toBe("in_progress");
    await kill(server);
    server = await start();

    const done = await waitFor(
      async () => {
        const b = (await api("GET", `/batches/${batch.id}`)).data;
        return b.status === "completed" ? b : null;
      },
      { timeoutMs: 45_000, intervalMs: 50, what: "the batch to finish after the restart" },
    );
    expect(done.completed_requests).toBe(TOTAL);
    const results: any[] = (await api("GET", `/batches/${batch.id}/results?limit=1000`)).data;
    expect(results).toHaveLength(TOTAL);
    const sum = { prompt: 0, completion: 0, total: 0, cached: 0 };
    for (const r of results) {
      expect(r.status).toBe("success");
      expect(r.response_usage.total_tokens).toBe(
        r.response_usage.total_prompt_tokens + r.response_usage.total_completion_tokens,
      );
      sum.prompt += r.response_usage.total_prompt_tokens;
      sum.completion += r.response_usage.total_completion_tokens;
      sum.total += r.response_usage.total_tokens;
      sum.cached += r.response_usage.total_cached_prompt_tokens ?? 0;
    }
    // Items in flight at the kill ran again; their usage still counts once.
    expect(results.some((r) => r.attempts > 1)).toBe(true);
    expect(done.usage).toEqual({
      prompt_tokens: sum.prompt,
      completion_tokens: sum.completion,
      total_tokens: sum.total,
      cached_prompt_tokens: sum.cached,
    });
    // gpt-4o-mini: $0.15 per million prompt tokens, $0.60 per million completion tokens.
    expect(done.total_cost).toBeCloseTo((sum.prompt * 0.15 + sum.completion * 0.6) / 1_000_000, 6);
    expect(done.total_cost).toBeGreaterThan(0);
    await kill(server);
  });
});
