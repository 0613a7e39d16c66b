import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishedAgent, startTestServer, type TestServer } from "../helpers/server.js";

const BIN = join(import.meta.dirname, "../../dist/cli/main.js");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the BUILT binary (`npm test` builds first) asynchronously: the server runs in this process. */
function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, AGENTBATCH_URL: "", AGENTBATCH_API_KEY: "", ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 99) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe("the agentbatch CLI (built binary) against a running server", () => {
  let t: TestServer;
  let dir: string;
  let agentId: string;
  let as: (args: string[]) => Promise<Run>;

  beforeAll(async () => {
    t = await startTestServer((c) => {
      c.engine.maxAttempts = 1;
      // Few items at a time, so that a slow batch is still running when it is paused.
      c.engine.concurrency = 4;
    });
    dir = mkdtempSync(join(tmpdir(), "agentbatch-cli-"));
    agentId = await publishedAgent(t);
    as = (args) => cli(["--url", t.url, "--key", t.key, ...args]);
  });
  afterAll(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("submits a JSONL file with --wait, then exports CSV equal to the results API", async () => {
    const file = join(dir, "in.jsonl");
    const lines = Array.from({ length: 40 }, (_, i) =>
      JSON.stringify({ custom_id: `q-${i}`, message: `Question ${i}, with "quotes"` }),
    );
    writeFileSync(file, `${lines.join("\n")}\n`);
    const submit = await as(["submit", file, "--agent", agentId, "--wait", "--json", "--name", "cli run"]);
    expect(submit.stderr).toBe("");
    expect(submit.code).toBe(0);
    const batch = JSON.parse(submit.stdout);
    expect(batch).toMatchObject({
      status: "completed",
      total_requests: 40,
      completed_requests: 40,
      name: "cli run",
    });

    const out = join(dir, "out.csv");
    const exported = await as(["results", batch.id, "--format", "csv", "-o", out]);
    expect(exported.code).toBe(0);
    const rows = parse(readFileSync(out, "utf8"), { columns: true }) as Record<string, string>[];
    const api = await t.api("GET", `/api/v1/batches/${batch.id}/results?limit=1000`);
    expect(rows).toHaveLength(40);
    expect(rows.map((r) => [r.custom_id, r.status, r.response_content])).toEqual(
      api.body.data.map((r: any) => [r.custom_id, r.status, r.response_content]),
    );

    const jsonl = await as(["results", batch.id]);
    expect(
      jsonl.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).custom_id),
    ).toEqual(api.body.data.map((r: any) => r.custom_id));
  });

  it("prints human output with a summary", async () => {
    const file = join(dir, "small.csv");
    writeFileSync(file, "custom_id,message\na,hello\nb,world\n");
    const run = await as(["submit", file, "--agent", agentId, "--wait"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/: completed/);
    expect(run.stdout).toMatch(/2 succeeded, 0 failed/);
    const ls = await as(["ls", "--limit", "5"]);
    expect(ls.stdout.split("\n")[0]).toMatch(/^ID\s+STATUS/);
  });

  it("--json output of every read command parses", async () => {
    const created = await as([
      "agents",
      "create",
      "--name",
      "cli agent",
      "--model",
      "simulated/echo",
      "--response-format",
      '{"type": "json_object"}',
      "--publish",
      "--json",
    ]);
    expect(created.code).toBe(0);
    const agent = JSON.parse(created.stdout);
    expect(agent).toMatchObject({ name: "cli agent", publish_state: "published", published_version: 1 });
    expect(agent.response_format).toEqual({ type: "json_object" });
    const notJson = await as([
      "agents",
      "create",
      "--name",
      "x",
      "--model",
      "simulated/echo",
      "--response-format",
      "{",
    ]);
    expect(notJson.code).not.toBe(0);
    expect(notJson.stderr).toContain("--response-format");
    const again = JSON.parse((await as(["agents", "publish", agent.id, "--json"])).stdout);
    expect(again.published_version).toBe(2);
    const agents = JSON.parse((await as(["agents", "list", "--json"])).stdout);
    expect(agents.map((a: any) => a.id)).toContain(agent.id);
    const batches = JSON.parse((await as(["ls", "--json", "--status", "completed"])).stdout);
    expect(batches.length).toBeGreaterThanOrEqual(1);
    expect(batches.every((b: any) => b.status === "completed")).toBe(true);
    const status = await as(["status", batches[0].id, "--json"]);
    expect(JSON.parse(status.stdout).id).toBe(batches[0].id);
  });

  it("pauses, resumes and cancels", async () => {
    const slow = await publishedAgent(t, { settings: { latency_ms: 1000 } });
    const file = join(dir, "slow.json");
    writeFileSync(
      file,
      JSON.stringify(Array.from({ length: 200 }, (_, i) => ({ custom_id: `s${i}`, message: "x" }))),
    );
    const submitted = await as(["submit", file, "--agent", slow, "--json"]);
    const id = JSON.parse(submitted.stdout).id;
    const paused = await as(["pause", id]);
    expect(paused.stderr).toBe("");
    expect(paused.stdout).toMatch(/paused/);
    expect(JSON.parse((await as(["resume", id, "--json"])).stdout).status).toBe("in_progress");
    const cancel = await as(["cancel", id, "--json"]);
    expect(cancel.stderr).toBe("");
    expect(["cancelling", "cancelled"]).toContain(JSON.parse(cancel.stdout).status);
    // A batch that ended cancelled: status --wait exits 3.
    expect((await as(["status", id, "--wait", "--json"])).code).toBe(3);
  });

  it("exit codes: 1 bad input, 2 API error, 3 failed requests, 4 server unreachable", async () => {
    const txt = join(dir, "in.txt");
    writeFileSync(txt, "hello");
    expect((await as(["submit", txt, "--agent", agentId])).code).toBe(1);
    expect((await as(["submit", join(dir, "missing.jsonl"), "--agent", agentId])).code).toBe(1);
    expect((await as(["submit", txt])).code).toBe(1); // --agent missing

    const notFound = await as(["status", "no-such-batch", "--json"]);
    expect(notFound.code).toBe(2);
    expect(JSON.parse(notFound.stderr)).toMatchObject({ error: { status: 404, error_code: 10003 } });
    expect((await cli(["--url", t.url, "--key", "wrong", "ls"])).code).toBe(2);

    const failing = await publishedAgent(t, { settings: { error_rate: 1 } });
    const file = join(dir, "fail.jsonl");
    writeFileSync(file, `${JSON.stringify({ custom_id: "f1", message: "x" })}\n`);
    const failed = await as(["submit", file, "--agent", failing, "--wait", "--json"]);
    expect(failed.code).toBe(3);
    expect(JSON.parse(failed.stdout)).toMatchObject({ status: "completed", failed_requests: 1 });

    const down = await cli(["--url", "http://127.0.0.1:9", "--key", "k", "ls"]);
    expect(down.code).toBe(4);
    expect(down.stderr).toMatch(/Cannot reach/);
  });

  it("reads --url and --key from AGENTBATCH_URL and AGENTBATCH_API_KEY", async () => {
    const run = await cli(["ls", "--json"], { AGENTBATCH_URL: t.url, AGENTBATCH_API_KEY: t.key });
    expect(run.code).toBe(0);
    expect(Array.isArray(JSON.parse(run.stdout))).toBe(true);
  });
});
