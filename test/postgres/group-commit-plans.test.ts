/**
 * On PostgreSQL a group commit's successes (the items' UPDATE, the chats, the messages) are one
 * statement over arrays (`unnest`, src/store/sql/success-statement.ts), under a text kept as a
 * named prepared statement (`keepPlan`) whatever the group's size, so PostgreSQL plans it from its
 * plan cache instead of parsing VALUES lists of every row count at every commit. Groups of 3 and
 * of 40 run the same statements.
 */
import pg from "pg";
import { afterAll, afterEach, expect, it, vi } from "vitest";
import { openStore } from "../../src/store/index.js";
import { dropSchema } from "../../src/store/postgres/admin.js";
import { PostgresDriver } from "../../src/store/postgres/driver.js";
import { SqlItemQueue } from "../../src/store/sql/items.js";
import type { ItemOutcome } from "../../src/store/types.js";
import { expectCountersExact, successOutcome } from "../helpers/outcomes.js";
import { freshPostgresUrl } from "../helpers/server.js";
import { createBatch, seedWorkspace } from "../helpers/store.js";

const db = freshPostgresUrl();

afterAll(async () => dropSchema(db));
afterEach(() => vi.restoreAllMocks());

/** The statements `run` sends (their text, and their name when prepared under one). */
async function statementsOf(run: () => Promise<unknown>): Promise<{ text: string; name?: string }[]> {
  const sent: { text: string; name?: string }[] = [];
  const query = pg.Client.prototype.query;
  const spy = vi.spyOn(pg.Client.prototype, "query").mockImplementation(function (
    this: pg.Client,
    ...args: unknown[]
  ) {
    const [config] = args as [string | { text: string; name?: string }];
    sent.push(typeof config === "string" ? { text: config } : { text: config.text, name: config.name });
    return (query as (...a: unknown[]) => unknown).apply(this, args);
  } as never);
  try {
    await run();
  } finally {
    spy.mockRestore();
  }
  return sent;
}

it("writes a group spanning three batches in as many statements, the batch rows locked by the counters' UPDATE", async () => {
  const store = await openStore(db);
  const driver = new PostgresDriver(db, 1);
  try {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const batches = [
      await createBatch(store, workspaceId, agentId, 3),
      await createBatch(store, workspaceId, agentId, 3),
      await createBatch(store, workspaceId, agentId, 3),
    ];
    const queue = new SqlItemQueue(driver);
    const claimed = await queue.claim("w", 9, 60_000, Date.now());
    expect(claimed).toHaveLength(9);
    // Two items of each batch: none finishes (a batch's settlement runs statements of its own).
    const [first, rest] = [
      claimed.filter((c) => c.customId !== "c2"),
      claimed.filter((c) => c.customId === "c2"),
    ];
    const outcomes = (items: typeof claimed) => items.map((c) => successOutcome(c, "w") as ItemOutcome);
    const sent = await statementsOf(async () =>
      expect((await queue.commit(outcomes(first), Date.now())).applied).toBe(6),
    );
    expect(sent).toHaveLength(5);
    expect(sent.filter((s) => s.text.includes("FROM batches WHERE id IN"))).toEqual([]);
    expect((await queue.commit(outcomes(rest), Date.now())).applied).toBe(3);
    for (const b of batches) await expectCountersExact(store, b.id, workspaceId);
  } finally {
    await driver.close();
    await store.close();
  }
});

it("writes groups of 3 and of 40 successes with the same statements, their rows in one prepared under a name", async () => {
  const store = await openStore(db);
  const driver = new PostgresDriver(db, 1);
  try {
    const { workspaceId, agentId } = await seedWorkspace(store);
    const batch = await createBatch(store, workspaceId, agentId, 44);
    const queue = new SqlItemQueue(driver);
    const commitOf = async (count: number) => {
      const claimed = await queue.claim("w", count, 60_000, Date.now());
      expect(claimed).toHaveLength(count);
      const outcomes = claimed.map((c) => successOutcome(c, "w") as ItemOutcome);
      return statementsOf(async () => expect((await queue.commit(outcomes, Date.now())).applied).toBe(count));
    };
    // Neither group finishes the batch (whose settlement runs statements of its own).
    const small = await commitOf(3);
    const large = await commitOf(40);
    await commitOf(1);
    expect(large.map((s) => s.text)).toEqual(small.map((s) => s.text));
    // The items' UPDATE, the chats and the messages: one statement, prepared under a name.
    const writes = large.filter((s) =>
      /UPDATE batch_items SET status = 'success'|INSERT INTO (chats|messages)/.test(s.text),
    );
    expect(writes).toHaveLength(1);
    expect(writes[0].text).toMatch(/INSERT INTO chats[\s\S]*INSERT INTO messages/);
    expect(writes[0].name).toMatch(/^kept_/);
    // The ids come from the sequences in it: no statement reserves them first.
    expect(large.filter((s) => s.text.includes("nextval"))).toEqual(writes);
    // The whole commit: the batches read with the items locked, the successes, the counters.
    expect(large.map((s) => s.name ?? s.text)).toEqual([
      "BEGIN",
      expect.stringMatching(/^kept_/),
      writes[0].name,
      expect.stringMatching(/^kept_/),
      "COMMIT",
    ]);

    // What they wrote: each item's chat holds its question, then its answer grouped under it.
    const stored = await store.items.getByCustomId(batch.id, "c42");
    const messages = await store.chats.listMessages(stored?.chatId as number);
    expect(messages.map((m) => [m.role, m.content])).toEqual([
      ["user", stored?.message],
      ["assistant", "answer c42"],
    ]);
    expect(stored?.conversationId).toBe(messages[0].id);
    expect(messages[1].groupId).toBe(messages[0].id);
    expect(await store.batches.get(workspaceId, batch.id)).toMatchObject({
      succeeded: 44,
      status: "completed",
    });
    await expectCountersExact(store, batch.id, workspaceId);
  } finally {
    await driver.close();
    await store.close();
  }
});
