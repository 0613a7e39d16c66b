/**
 * `statementGroups`: on SQLite, where a statement is prepared once per text and kept for the
 * connection's life, the group lengths of the store's multi-row statements come from a fixed set,
 * so a store that commits groups of every length does not keep a prepared statement (its VALUES
 * program: ~0.65 KB a row, natively) for each length it ever met (bench/README.md, "Issue 17.3,
 * RSS over time"). Elsewhere the groups are `chunks`'.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { chunks, statementGroups } from "../../src/store/sql/driver.js";
import { SqlStore } from "../../src/store/sql/sql-store.js";
import { SqliteDriver } from "../../src/store/sqlite/driver.js";
import { successOutcome } from "../helpers/outcomes.js";
import { item, newBatch, seedWorkspace } from "../helpers/store.js";

const lengths = (groups: unknown[][]) => groups.map((g) => g.length);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe("statementGroups", () => {
  it("gives full groups, then the rest in powers of two, where a text is prepared for good", () => {
    const sqlite = { preparesPerText: true };
    expect(lengths(statementGroups(sqlite, range(237), 400))).toEqual([128, 64, 32, 8, 4, 1]);
    expect(lengths(statementGroups(sqlite, range(1037), 400))).toEqual([400, 400, 128, 64, 32, 8, 4, 1]);
    expect(lengths(statementGroups(sqlite, range(400), 400))).toEqual([400]);
    expect(statementGroups(sqlite, [], 400)).toEqual([]);
    // Every item once, in order.
    expect(statementGroups(sqlite, range(1037), 400).flat()).toEqual(range(1037));
    // Lengths from 1 to 1,000 with groups of at most 500: 500 and the powers of two below it.
    const seen = new Set<number>();
    for (let n = 1; n <= 1000; n++) for (const g of statementGroups(sqlite, range(n))) seen.add(g.length);
    expect([...seen].sort((a, b) => a - b)).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 500]);
  });

  it("is chunks elsewhere", () => {
    expect(statementGroups({}, range(237), 100)).toEqual(chunks(range(237), 100));
    expect(statementGroups({ preparesPerText: false }, range(1037))).toEqual(chunks(range(1037)));
  });
});

describe("the SQLite store's prepared statements", () => {
  let dir: string;
  let driver: SqliteDriver;
  let store: SqlStore;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "agentbatch-stmts-"));
    driver = new SqliteDriver(join(dir, "s.db"));
    store = new SqlStore(driver);
    await store.migrate();
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Claims `n` items and commits them as one group of `n` successes. */
  async function commitGroup(n: number): Promise<void> {
    const claimed = await store.items.claim("w", n, 60_000, Date.now());
    expect(claimed.length).toBe(n);
    const report = await store.items.commit(
      claimed.map((c) => successOutcome(c, "w")),
      Date.now(),
    );
    expect(report.applied).toBe(n);
  }

  it("do not grow with the group lengths committed", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const total = (64 * 65) / 2;
    const result = await store.batches.ingest(
      newBatch(workspaceId, agentId),
      async function* () {
        for (let i = 0; i < total; i++) yield { row: i + 1, item: item(agentId, `c${i}`) };
      },
      { onInvalidRows: "fail", maxReportedErrors: 10 },
    );
    expect(result.kind).toBe("created");
    for (let n = 1; n <= 32; n++) await commitGroup(n);
    const after32 = driver.preparedStatements();
    // 32 more lengths: one statement per length and shape would add ~200; powers of two add
    // the 64-long one of each shape.
    for (let n = 33; n <= 64; n++) await commitGroup(n);
    expect(driver.preparedStatements() - after32).toBeLessThanOrEqual(12);
    expect(
      await store.batches.get(workspaceId, (result as { batch: { id: string } }).batch.id),
    ).toMatchObject({
      succeeded: total,
    });
  });
});
