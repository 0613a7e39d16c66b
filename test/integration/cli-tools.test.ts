import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  publishedAgent,
  startTestServer,
  type TestServer,
  waitFor,
  waitForBatch,
} from "../helpers/server.js";

const BIN = join(import.meta.dirname, "../../dist/cli/main.js");

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 99) : 0, stdout, stderr });
    });
  });
}

describe("agentbatch batches tool-calls / tool-outputs (built binary)", () => {
  let t: TestServer;
  let dir: string;
  beforeAll(async () => {
    t = await startTestServer();
    dir = mkdtempSync(join(tmpdir(), "agentbatch-cli-tools-"));
  });
  afterAll(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("lists the calls as JSONL and answers them from a file", async () => {
    const agentId = await publishedAgent(t, { tools: [{ type: "client", name: "ask_user" }] });
    const requests = Array.from({ length: 5 }, (_, i) => ({ custom_id: `q-${i}`, message: `Q ${i}` }));
    const batchId = (await t.api("POST", "/api/v1/batches", { agent_id: agentId, requests })).body.data.id;
    await waitFor(
      async () =>
        (await t.api("GET", `/api/v1/batches/${batchId}`)).body.data.awaiting_tool_calls_requests === 5,
    );
    const as = (args: string[]) => cli(["--url", t.url, "--key", t.key, ...args]);

    const listed = await as(["batches", "tool-calls", batchId]);
    expect(listed.stderr).toBe("");
    expect(listed.code).toBe(0);
    const calls = listed.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(calls).toHaveLength(5);
    expect(calls[0]).toMatchObject({ tool: "ask_user" });

    const file = join(dir, "outputs.jsonl");
    const lines = calls.map((c) => JSON.stringify({ call_id: c.call_id, output: `ok ${c.custom_id}` }));
    writeFileSync(file, `${[...lines, JSON.stringify({ call_id: "call_nope", output: "x" })].join("\n")}\n`);
    const sent = await as(["batches", "tool-outputs", batchId, "--file", file]);
    expect(sent.stdout).toContain("accepted 5, refused 1, resumed 5 requests");
    expect(sent.stdout).toContain("refused call_nope: unknown call_id");
    expect(sent.code).toBe(2);
    const done = await waitForBatch(t, batchId);
    expect(done.completed_requests).toBe(5);

    writeFileSync(file, "not json\n");
    const bad = await as(["batches", "tool-outputs", batchId, "--file", file]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("outputs.jsonl:1");
  });
});
