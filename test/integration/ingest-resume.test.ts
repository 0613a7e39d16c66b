/**
 * An input file's ingest survives the end of its process: the batch stays `validating`, the next
 * process takes it over and reads on from the row after the last one stored, and the batch ends
 * with every row of the file exactly once (a row stored twice would be a duplicate custom_id,
 * failing the batch; a row lost would show in `total_requests`).
 * - a graceful stop (a deploy): the ingest is handed back and the next process resumes it;
 * - a SIGKILL: the next process (SQLite: at start; PostgreSQL: once the dead one's heartbeat is
 *   stale, `AGENTBATCH_INGEST_STALE_MS`) resumes it.
 * Needs `npm run build` first (the SIGKILL case runs the built CLI).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, expect, it } from "vitest";
import { dropSchema } from "../../src/store/postgres/admin.js";
import { questionsCsv, uploadBatchInput } from "../helpers/files.js";
import { type RestartableServer, restartableServer } from "../helpers/processes.js";
import {
  publishedAgent,
  startTestServer,
  type TestServer,
  testDbUrl,
  testStore,
  waitFor,
  waitForIngest,
} from "../helpers/server.js";

const ROWS = 100_000;
/** The file's own column names: the resumed ingest must read them with the create's mapping. */
const MAPPING = { custom_id: "Ref", message: "Question" };
const dirs: string[] = [];
const schemas: string[] = [];

afterAll(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  if (testStore === "postgres") for (const s of schemas) await dropSchema(s);
});

/** Waits until part of the file is stored and the rest is not: the moment to stop the process. */
async function partlyIngested(get: () => Promise<any>): Promise<number> {
  return waitFor(
    async () => {
      const b = await get();
      if (b.status !== "validating") {
        throw new Error(
          `the ingest ended (${b.status}, ${b.total_requests} rows: ${b.error_message}) before it could be stopped`,
        );
      }
      return b.total_requests > 0 ? (b.total_requests as number) : null;
    },
    { timeoutMs: 60_000, intervalMs: 5, what: "the first chunk of rows to be stored" },
  );
}

function expectWholeFile(batch: any): void {
  expect(batch).toMatchObject({ status: "in_progress", total_requests: ROWS, error_message: null });
  expect(batch.validation_errors ?? null).toBeNull();
}

function dbFor(dir: string): string {
  const db = testDbUrl(dir);
  if (testStore === "postgres") schemas.push(db);
  return db;
}

it(`${testStore}: a graceful stop hands the ingest over and the next process reads on`, async () => {
  const dir = mkdtempSync(join(tmpdir(), "agentbatch-resume-"));
  dirs.push(dir);
  const db = dbFor(dir);
  const first: TestServer = await startTestServer(() => {}, { db, worker: false });
  const agent = await publishedAgent(first);
  const created = await first.api("POST", "/api/v1/batches", {
    agent_id: agent,
    file_id: await uploadBatchInput(first.url, first.key, questionsCsv(ROWS)),
    column_mapping: MAPPING,
  });
  expect(created.status).toBe(202);
  const id = created.body.data.id as string;
  const storedBefore = await partlyIngested(
    async () => (await first.api("GET", `/api/v1/batches/${id}`)).body.data,
  );
  expect(storedBefore).toBeLessThan(ROWS);
  await first.close();

  const logs: string[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => logs.push(line) });
  const second = await startTestServer(() => {}, { db, worker: false, logger });
  try {
    expectWholeFile(await waitForIngest(second, id, first.key));
    // Read on, not read again: the second process says from which row.
    const resumed = logs.map((l) => JSON.parse(l)).find((l) => l.msg === "resuming an interrupted ingest");
    expect(resumed).toMatchObject({ batch_id: id });
    expect(resumed.after_row).toBeGreaterThan(0);
  } finally {
    await second.close();
  }
});

it(`${testStore}: after a SIGKILL mid-ingest the next process resumes it`, async () => {
  const dir = mkdtempSync(join(tmpdir(), "agentbatch-resume-kill-"));
  dirs.push(dir);
  const db = testStore === "postgres" ? dbFor(dir) : `sqlite:${join(dir, "db.sqlite")}`;
  let server: RestartableServer | null = null;
  try {
    server = await restartableServer({
      db,
      dir,
      env: { AGENTBATCH_DATA_DIR: dir, AGENTBATCH_INGEST_STALE_MS: "1500", AGENTBATCH_LOG_LEVEL: "info" },
      args: ["--no-worker"],
    });
    const s = server;
    await s.start();
    const agent = (await s.api("POST", "/agents", { name: "resume", model: "simulated/echo" })).data.id;
    await s.api("POST", `/agents/${agent}/publish`);
    const id = (
      await s.api("POST", "/batches", {
        agent_id: agent,
        file_id: await uploadBatchInput(s.base, s.key, questionsCsv(ROWS)),
        column_mapping: MAPPING,
      })
    ).data.id as string;
    await partlyIngested(async () => (await s.api("GET", `/batches/${id}`)).data);
    await s.killAll();

    const restarted = await s.start();
    const done = await waitFor(
      async () => {
        const b = (await s.api("GET", `/batches/${id}`)).data;
        return b.status === "validating" ? null : b;
      },
      { timeoutMs: 60_000, what: `batch ${id} to be ingested after the restart` },
    );
    expectWholeFile(done);
    expect(restarted.output.join("")).toMatch(/"after_row":[1-9]\d*,"msg":"resuming an interrupted ingest"/);
  } finally {
    await server?.killAll();
  }
});
