/** Maintenance leader on PostgreSQL: one process at a time runs a task; the others skip it. */
import { afterAll, expect, it } from "vitest";
import { openStore, type Store } from "../../src/store/index.js";
import { dropSchema } from "../../src/store/postgres/admin.js";
import { freshPostgresUrl } from "../helpers/server.js";

const db = freshPostgresUrl();
const stores: Store[] = [];

afterAll(async () => {
  for (const s of stores) await s.close();
  await dropSchema(db);
});

it("runs a task in one process at a time and frees it afterwards", async () => {
  const a = await openStore(db);
  const b = await openStore(db);
  stores.push(a, b);
  let release!: () => void;
  const held = new Promise<void>((r) => {
    release = r;
  });
  let acquired!: () => void;
  const leading = new Promise<void>((r) => {
    acquired = r;
  });
  const first = a.workers.runAsLeader("maintenance", async () => {
    acquired();
    await held;
    return "a";
  });
  await leading;
  // a holds the lock until released: b skips the round.
  expect(await b.workers.runAsLeader("maintenance", async () => "b")).toBeUndefined();
  expect(await b.workers.runAsLeader("other-task", async () => "b")).toBe("b");
  release();
  expect(await first).toBe("a");
  expect(await b.workers.runAsLeader("maintenance", async () => "b")).toBe("b");
  expect(await a.workers.runAsLeader("maintenance", async () => "a")).toBe("a");
});
