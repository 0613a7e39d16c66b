import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { runDemo } from "../../src/cli/demo.js";
import { DEMO_TOOL_AGENT_NAME } from "../../src/cli/demo-tool.js";
import { loadConfig } from "../../src/config/index.js";
import { waitFor } from "../helpers/server.js";

let dir: string;
let stop: () => Promise<void>;
let output = "";

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "agentbatch-demo-"));
  const config = loadConfig({ port: 0, host: "127.0.0.1", db: `sqlite:${join(dir, "demo.db")}` }, {});
  config.engine.pollIntervalMs = 50;
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => {
    output += chunk;
    return true;
  }) as typeof process.stdout.write;
  try {
    stop = await runDemo(config);
  } finally {
    process.stdout.write = write;
  }
});
afterAll(async () => {
  await stop?.();
  rmSync(dir, { recursive: true, force: true });
});

it("the demo's tool agent calls the demo's own tool and answers with its result", async () => {
  const url = /agentbatch is running at (\S+)/.exec(output)?.[1];
  const key = /API key:\s+(\S+)/.exec(output)?.[1];
  const agentId = /tool agent: (\S+)/.exec(output)?.[1];
  expect(output).toContain(DEMO_TOOL_AGENT_NAME);
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}/api/v1${path}`, {
      method,
      headers: { "x-api-key": key as string, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return res.json() as Promise<any>;
  };
  const batch = (
    await call("POST", "/batches", {
      agent_id: agentId,
      requests: [{ custom_id: "o-1", message: "Where is order A-17?" }],
    })
  ).data;
  const done = await waitFor(async () => {
    const b = (await call("GET", `/batches/${batch.id}`)).data;
    return b.status === "completed" ? b : null;
  });
  expect(done.completed_requests).toBe(1);
  const result = (await call("GET", `/batches/${batch.id}/results/o-1`)).data;
  expect(result.response_content).toContain('lookup_order: {"order":');
  expect(result.response_content).toContain('"status":"shipped"');
});
