/**
 * (c) Bounded memory, on the store of this run: the built server (32 engine slots, attachment
 * memory 100 MB) runs 24 items that each attach a 20 MB image, on a model taking 300 ms. Every
 * item would hold its image and its base64 copy (~47 MB) at once without the budget (over 1 GB);
 * with it, two items at a time hold their files. Asserts a peak RSS (VmHWM) below 600 MB and
 * prints it. Linux only (/proc). Needs `npm run build` first.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { generateApiKey } from "../../src/server/auth.js";
import { dropSchema } from "../../src/store/postgres/admin.js";
import { type CliProcess, callApi, freePort, killHard, startCli, waitForHttp } from "../helpers/processes.js";
import { freshPostgresUrl, testStore, waitFor } from "../helpers/server.js";

const ITEMS = 24;
const IMAGE_BYTES = 20_000_000;
const BUDGET = 100 * 1024 * 1024;
const PEAK_RSS_BOUND = 600 * 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), "agentbatch-memory-"));
const procs: CliProcess[] = [];
const db = testStore === "postgres" ? freshPostgresUrl() : `sqlite:${join(dir, "db.sqlite")}`;

afterAll(async () => {
  for (const p of procs) await killHard(p);
  if (testStore === "postgres") await dropSchema(db);
  rmSync(dir, { recursive: true, force: true });
});

/** The peak resident set of a process, in bytes. */
function peakRss(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmHWM:"));
  return Number(line?.match(/(\d+)/)?.[1] ?? 0) * 1024;
}

it(`${testStore}: 20 MB image attachments run with a bounded peak RSS`, async () => {
  const key = generateApiKey();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = startCli(
    ["serve", "--port", String(port), "--host", "127.0.0.1", "--db", db],
    {
      AGENTBATCH_API_KEY: key,
      AGENTBATCH_DATA_DIR: dir,
      AGENTBATCH_CONCURRENCY: "32",
      AGENTBATCH_ATTACHMENT_MEMORY_BYTES: String(BUDGET),
      AGENTBATCH_MAX_ATTACHMENT_BYTES: String(IMAGE_BYTES),
    },
    dir,
  );
  procs.push(server);
  await waitForHttp(server, `${base}/healthz`, 30_000);
  const api = (method: string, path: string, body?: unknown): Promise<any> =>
    callApi(base, key, method, path, body);

  const png = Buffer.alloc(IMAGE_BYTES, 7);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(png);
  const form = new FormData();
  form.append("file", new Blob([png], { type: "image/png" }), "big.png");
  const up = await fetch(`${base}/api/v1/chats/upload-file`, {
    method: "POST",
    headers: { "x-api-key": key },
    body: form,
  });
  const uploaded: any = await up.json();
  expect(up.status, JSON.stringify(uploaded)).toBeLessThan(300);
  const fileId = uploaded.data.uuid;

  const agent = (await api("POST", "/agents", { name: "images", model: "simulated/echo?latency_ms=300" }))
    .data;
  await api("POST", `/agents/${agent.id}/publish`);
  const requests = Array.from({ length: ITEMS }, (_, i) => ({
    custom_id: `img-${i}`,
    message: `describe ${i}`,
    attached_file_uuids: [fileId],
  }));
  const batchId = (await api("POST", "/batches", { agent_id: agent.id, requests })).data.id;
  const done = await waitFor(
    async () => {
      const b = (await api("GET", `/batches/${batchId}`)).data;
      return b.status === "completed" ? b : null;
    },
    { timeoutMs: 120_000, what: "the image batch to complete" },
  );
  expect(done).toMatchObject({ completed_requests: ITEMS, failed_requests: 0 });
  const peak = peakRss(server.child.pid as number);
  console.log(
    JSON.stringify({
      store: testStore,
      items: ITEMS,
      image_bytes: IMAGE_BYTES,
      attachment_memory_bytes: BUDGET,
      peak_rss_mb: Math.round(peak / 1024 / 1024),
      bound_mb: PEAK_RSS_BOUND / 1024 / 1024,
    }),
  );
  expect(peak).toBeGreaterThan(0);
  expect(peak).toBeLessThan(PEAK_RSS_BOUND);
}, 180_000);
