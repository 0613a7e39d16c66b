/**
 * Worker liveness goes by the database's clock: a worker process whose host clock is 5 s behind
 * is neither forgotten while it beats (the others would take its share: two shares of the whole
 * limit) nor does it forget the others. Before, each worker wrote and judged `last_seen` by its
 * own clock, so the other worker dropped it at every beat and took the whole limit.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, expect, it } from "vitest";
import { Heartbeat } from "../../src/engine/heartbeat.js";
import { LimiterRegistry } from "../../src/providers/rate-limiter.js";
import { openStore, type Store } from "../../src/store/index.js";
import { dropSchema } from "../../src/store/postgres/admin.js";
import { type CliProcess, killHard, startCli } from "../helpers/processes.js";
import { freshPostgresUrl, waitFor } from "../helpers/server.js";

const db = freshPostgresUrl();
const dir = mkdtempSync(join(tmpdir(), "agentbatch-skew-"));
let store: Store | undefined;
let heartbeat: Heartbeat | undefined;
let child: CliProcess | undefined;

afterAll(async () => {
  if (child) await killHard(child);
  await heartbeat?.stop();
  await store?.close();
  await dropSchema(db);
  rmSync(dir, { recursive: true, force: true });
});

/** This worker's share changes, in order. */
const changes: number[] = [];

class RecordingRegistry extends LimiterRegistry {
  current = 1;
  constructor() {
    super(() => ({ rpm: 600 }), 100);
  }
  override setShare(share: number, opts: { fill?: boolean } = {}): void {
    super.setShare(share, opts);
    if (share !== this.current) changes.push(share);
    this.current = share;
  }
}

/** Date.now() of the child, 5 s behind (its `new Date()` too is not needed: the code reads Date.now). */
const SKEW = encodeURIComponent("const real = Date.now; Date.now = () => real() - 5000;");

it("a worker whose clock is 5 s behind counts as live, and each of two holds half the limit", async () => {
  const configFile = join(dir, "config.json");
  writeFileSync(configFile, JSON.stringify({ providers: {} }));
  child = startCli(["worker", "--db", db, "--config", configFile], {
    NODE_OPTIONS: `--import=data:text/javascript,${SKEW}`,
  });
  store = await openStore(db);
  const s = store;
  // The skewed worker's row is fresh by the database's clock.
  await waitFor(async () => (await s.workers.live(2_000)).length === 1, {
    timeoutMs: 20_000,
    what: `the skewed worker's row (output: ${child.output.join("")})`,
  });
  const limiters = new RecordingRegistry();
  // The store as this worker's heartbeat sees it, counting its beats.
  let beats = 0;
  const workers = s.workers;
  const counted = {
    capabilities: s.capabilities,
    workers: {
      heartbeat: (...args: Parameters<typeof workers.heartbeat>) => {
        beats++;
        return workers.heartbeat(...args);
      },
      live: (staleMs: number) => workers.live(staleMs),
      remove: (id: string) => workers.remove(id),
      runAsLeader: workers.runAsLeader.bind(workers),
    },
  };
  heartbeat = new Heartbeat({ store: counted, owner: "local", limiters, logger: pino({ level: "silent" }) });
  heartbeat.start();
  await waitFor(() => limiters.current === 0.5, { timeoutMs: 15_000, what: "a half share" });
  // Three more beats of this worker: the skewed one stays live all along, and the share stays half.
  const since = beats;
  await waitFor(
    async () => {
      expect(await s.workers.live(2_000)).toHaveLength(2);
      return beats >= since + 3;
    },
    { timeoutMs: 15_000, what: "three more beats" },
  );
  expect(changes.slice(changes.indexOf(0.5))).toEqual([0.5]);
  // The skewed worker dies: forgotten 3 s after its last beat by the database's clock.
  await killHard(child);
  await waitFor(() => limiters.current === 1, { timeoutMs: 15_000, what: "the whole limit again" });
});
