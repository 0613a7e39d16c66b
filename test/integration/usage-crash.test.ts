/**
 * Usage and cost are counted once per successful item, also across crashes: the built server
 * (`dist/cli/main.js serve`, short leases) is killed with SIGKILL while a batch runs and
 * restarted on the same database; afterwards the batch's `usage` and `total_cost` must equal the
 * sum over its items' `response_usage` (priced by the default price table).
 * Needs `npm run build` first (`npm test` does it).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { generateApiKey } from "../../src/server/auth.js";
import { isPostgresUrl } from "../../src/store/index.js";
import { dropSchema } from "../../src/store/postgres/admin.js";
import { testDbUrl, waitFor } from "../helpers/server.js";

const repoRoot = resolve(fileURLToPath(new URL(".", import.meta.url)), "..", "..");
const mainJs = join(repoRoot, "dist", "cli", "main.js");
const TOTAL = 200;

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      if (address === null || typeof address === "string") return reject(new Error("no port"));
      srv.close(() => resolvePort(address.port));
    });
  });
}

describe("usage totals across a crash", () => {
  const dir = mkdtempSync(join(tmpdir(), "agentbatch-usage-"));
  const db = testDbUrl(dir);
  const key = generateApiKey();
  const children: ChildProcess[] = [];
  let base = "";

  const kill = async (child: ChildProcess) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    try {
      process.kill(-(child.pid as number), "SIGKILL");
    } catch {
      /* already gone */
    }
    await exited;
  };

  afterAll(async () => {
    for (const c of children) await kill(c);
    rmSync(dir, { recursive: true, force: true });
    if (isPostgresUrl(db)) await dropSchema(db);
  });

  const start = async (port: number): Promise<ChildProcess> => {
    const child = spawn(
      process.execPath,
      [mainJs, "serve", "--port", String(port), "--host", "127.0.0.1", "--db", db],
      {
        cwd: dir,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
        env: {
          ...process.env,
          AGENTBATCH_API_KEY: key,
          AGENTBATCH_LEASE_MS: "1000",
          AGENTBATCH_CONCURRENCY: "16",
          AGENTBATCH_LOG_LEVEL: "warn",
        },
      },
    );
    const output: string[] = [];
    child.stdout?.on("data", (d) => output.push(String(d)));
    child.stderr?.on("data", (d) => output.push(String(d)));
    children.push(child);
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode}): ${output.join("")}`);
        try {
          return (await fetch(`${base}/healthz`)).ok;
        } catch {
          return false;
        }
      },
      { timeoutMs: 15_000, what: "the server to answer /healthz" },
    );
    return child;
  };

  const api = async (method: string, path: string, body?: unknown): Promise<any> => {
    const res = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: { "x-api-key": key, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json: any = await res.json();
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };

  it("batch usage and cost equal the sum over items after SIGKILL and restart", async () => {
    expect(existsSync(mainJs), `${mainJs} is missing: run npm run build`).toBe(true);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    let server = await start(port);
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
        return b.completed_requests >= TOTAL / 3 ? b : null;
      },
      { timeoutMs: 30_000, intervalMs: 20, what: "a third of the results" },
    );
    expect(seen.status).toBe("in_progress");
    await kill(server);
    server = await start(port);

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
    const sum = { prompt: 0, completion: 0, total: 0 };
    for (const r of results) {
      expect(r.status).toBe("success");
      expect(r.response_usage.total_tokens).toBe(
        r.response_usage.total_prompt_tokens + r.response_usage.total_completion_tokens,
      );
      sum.prompt += r.response_usage.total_prompt_tokens;
      sum.completion += r.response_usage.total_completion_tokens;
      sum.total += r.response_usage.total_tokens;
    }
    // Items in flight at the kill ran again; their usage still counts once.
    expect(results.some((r) => r.attempts > 1)).toBe(true);
    expect(done.usage).toEqual({
      prompt_tokens: sum.prompt,
      completion_tokens: sum.completion,
      total_tokens: sum.total,
    });
    // gpt-4o-mini: $0.15 per million prompt tokens, $0.60 per million completion tokens.
    expect(done.total_cost).toBeCloseTo((sum.prompt * 0.15 + sum.completion * 0.6) / 1_000_000, 6);
    expect(done.total_cost).toBeGreaterThan(0);
    await kill(server);
  });
});
