import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/service.js";
import { publishedAgent, startTestServer, type TestServer, waitForBatch } from "../helpers/server.js";

describe("structured logs", () => {
  let t: TestServer;
  const lines: string[] = [];
  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(...String(chunk).split("\n").filter(Boolean));
        done();
      },
    });
    t = await startTestServer(
      (c) => {
        c.engine.maxAttempts = 1;
      },
      { logger: createLogger("info", sink) },
    );
  });
  afterAll(async () => t.close());

  it("are JSON lines with batch ids, and carry no API key or message text at info level", async () => {
    const agent = await publishedAgent(t, { system_prompt: "SYSTEM-PROMPT-TEXT" });
    const failing = await publishedAgent(t, { settings: { error_rate: 1 } });
    const requests = [{ custom_id: "c1", message: "MESSAGE-BODY-TEXT" }];
    const ok = await t.api("POST", "/api/v1/batches", { agent_id: agent, requests });
    const bad = await t.api("POST", "/api/v1/batches", { agent_id: failing, requests });
    await waitForBatch(t, ok.body.data.id);
    await waitForBatch(t, bad.body.data.id);
    await t.api("GET", "/api/v1/batches/nope", undefined, "not-a-key");

    const records = lines.map((l) => JSON.parse(l));
    expect(records.some((r) => r.batch_id === ok.body.data.id && r.msg === "batch created")).toBe(true);
    expect(records.some((r) => r.batch_id === ok.body.data.id && r.to === "completed")).toBe(true);
    const all = lines.join("\n");
    for (const secret of [t.key, "not-a-key", "MESSAGE-BODY-TEXT", "SYSTEM-PROMPT-TEXT"]) {
      expect(all).not.toContain(secret);
    }
  });
});
