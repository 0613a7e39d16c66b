/** Store conformance: workspaces, keys, whitelist, agents, chats and files (SQLite and PostgreSQL). */
import { describe, expect, it } from "vitest";
import type { Store } from "../../src/store/index.js";
import { fileRecord, seedWorkspace, useTestStore } from "../helpers/store.js";

let store: Store;
useTestStore((s) => (store = s));

describe("workspaces and keys", () => {
  it("finds a workspace by the hash of its key; ensure is idempotent", async () => {
    const ws = await store.workspaces.ensure("team");
    expect((await store.workspaces.ensure("team")).id).toBe(ws.id);
    await store.workspaces.addKey(ws.id, "hash-1", "ab_xxxx");
    await store.workspaces.addKey(ws.id, "hash-1", "ab_xxxx");
    expect((await store.workspaces.findByKeyHash("hash-1"))?.id).toBe(ws.id);
    expect(await store.workspaces.findByKeyHash("nope")).toBeUndefined();
  });

  it("lists, revokes and touches keys; a revoked key finds no workspace and stays revoked", async () => {
    const ws = await store.workspaces.ensure("team");
    const h1 = `aaaa1111${"1".repeat(56)}`;
    const h2 = `aaaa1111${"2".repeat(56)}`;
    const h3 = `bbbb3333${"3".repeat(56)}`;
    await store.workspaces.addKey(ws.id, h1, "ab_one");
    await store.workspaces.addKey(ws.id, h2, "ab_two", "env");
    await store.workspaces.addKey(ws.id, h3, "ab_three", "env");
    await store.workspaces.touchKey(h1, 1234);
    const listed = await store.workspaces.listKeys();
    expect(listed.map((k) => k.id).sort()).toEqual([h1, h2, h3].map((h) => h.slice(0, 16)).sort());
    expect(listed.find((k) => k.prefix === "ab_one")).toMatchObject({
      workspaceName: "team",
      lastUsedAt: 1234,
      revokedAt: null,
      source: null,
    });
    expect(await store.workspaces.revokeKey("aaaa", 5)).toBe("not_found");
    expect(await store.workspaces.revokeKey("aaaa1111", 5)).toBe("ambiguous");
    expect(await store.workspaces.revokeKey("cccc0000", 5)).toBe("not_found");
    expect(await store.workspaces.revokeKey(h1.slice(0, 16), 5)).toBe("revoked");
    expect(await store.workspaces.findByKeyHash(h1)).toBeUndefined();
    expect(await store.workspaces.keyState(h1)).toBe("revoked");
    expect(await store.workspaces.keyState(h2)).toBe("active");
    expect(await store.workspaces.keyState("nope")).toBe("unknown");
    await store.workspaces.addKey(ws.id, h1, "ab_one");
    expect(await store.workspaces.findByKeyHash(h1)).toBeUndefined();
    expect(await store.workspaces.revokeOtherKeysOf("env", h3, 9)).toBe(1);
    expect(await store.workspaces.findByKeyHash(h2)).toBeUndefined();
    expect((await store.workspaces.findByKeyHash(h3))?.id).toBe(ws.id);
    expect((await store.workspaces.listKeys()).find((k) => k.prefix === "ab_two")?.revokedAt).toBe(9);
  });

  it("keeps a whitelist per workspace", async () => {
    const ws = await store.workspaces.ensure("team");
    const other = await store.workspaces.ensure("other");
    expect((await store.workspaces.setWhitelistEnabled(ws.id, true))?.whitelistEnabled).toBe(true);
    expect(await store.workspaces.addWhitelistUsers(ws.id, ["u1", "u2", "u1"], 1)).toBe(2);
    expect(await store.workspaces.addWhitelistUsers(ws.id, ["u2", "u3"], 2)).toBe(1);
    expect([...(await store.workspaces.whitelistedAmong(ws.id, ["u1", "u9"]))]).toEqual(["u1"]);
    expect((await store.workspaces.whitelistedAmong(other.id, ["u1"])).size).toBe(0);
    expect(await store.workspaces.removeWhitelistUser(ws.id, "u1")).toBe(true);
    expect(await store.workspaces.removeWhitelistUser(ws.id, "u1")).toBe(false);
    const page = await store.workspaces.listWhitelistUsers(ws.id, { limit: 1, offset: 0 });
    expect(page).toMatchObject({ total: 2, rows: [{ externalUserId: "u2" }] });
  });
});

describe("agents", () => {
  it("numbers published versions and keeps each version as it was published", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    await store.agents.update(workspaceId, agentId, { systemPrompt: "v2 prompt", settings: { a: 1 } }, 3);
    const agent = await store.agents.publish(workspaceId, agentId, 4);
    expect(agent?.publishedVersion).toBe(2);
    expect((await store.agents.getVersion(agentId, 1))?.systemPrompt).toBeNull();
    expect(await store.agents.getVersion(agentId, 2)).toMatchObject({
      systemPrompt: "v2 prompt",
      settings: { a: 1 },
    });
    expect(await store.agents.get("other", agentId)).toBeUndefined();
    const listed = await store.agents.list(workspaceId, { limit: 10, offset: 0 }, true);
    expect(listed.total).toBe(1);
  });
});

describe("agent response_format", () => {
  it("keeps the structured output format with the agent and each published version, and clears it", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    expect((await store.agents.get(workspaceId, agentId))?.responseFormat).toBeNull();
    const format = {
      type: "json_schema" as const,
      jsonSchema: {
        name: "verdict",
        strict: true,
        schema: { type: "object", properties: { label: { type: "string" } }, required: ["label"] },
      },
    };
    const updated = await store.agents.update(workspaceId, agentId, { responseFormat: format }, 3);
    expect(updated?.responseFormat).toEqual(format);
    await store.agents.publish(workspaceId, agentId, 4);
    await store.agents.update(workspaceId, agentId, { responseFormat: null }, 5);
    expect((await store.agents.get(workspaceId, agentId))?.responseFormat).toBeNull();
    expect((await store.agents.getVersion(agentId, 1))?.responseFormat).toBeNull();
    expect((await store.agents.getVersion(agentId, 2))?.responseFormat).toEqual(format);
    const created = await store.agents.create(
      {
        id: "agent-json",
        workspaceId,
        name: "json",
        description: null,
        model: "simulated/echo",
        systemPrompt: null,
        temperature: null,
        maxTokens: null,
        settings: {},
        responseFormat: { type: "json_object" },
      },
      6,
    );
    expect(created.responseFormat).toEqual({ type: "json_object" });
  });
});

describe("chats and files", () => {
  const file = fileRecord;

  it("stores a turn with its files, lists messages oldest first, and keeps feedback", async () => {
    const { workspaceId, agentId } = await seedWorkspace(store);
    await store.files.create(file("f1", workspaceId, 1));
    const chat = await store.chats.create({ workspaceId, agentId, name: "c", externalUserId: "u" }, 1);
    const turn = await store.chats.appendTurn(
      {
        workspaceId,
        chatId: chat.id,
        agentId,
        chatName: null,
        externalUserId: "u",
        message: "hi",
        reply: "hello",
        attachedFileIds: ["f1"],
        questionMeta: {},
        replyMeta: { response_time_ms: 1 },
      },
      2,
    );
    expect(turn.answer.groupId).toBe(turn.question.id);
    expect((await store.chats.listMessages(chat.id)).map((m) => m.content)).toEqual(["hi", "hello"]);
    expect(
      (await store.chats.listMessageFiles([turn.question.id, turn.answer.id])).map((f) => [
        f.messageId,
        f.file.id,
      ]),
    ).toEqual([[turn.question.id, "f1"]]);
    await store.chats.addFeedback(
      { chatId: chat.id, messageId: turn.answer.id, rating: "helpful", comment: null, externalUserId: "u" },
      3,
    );
    expect((await store.chats.listFeedbacks([turn.answer.id])).map((f) => f.rating)).toEqual(["helpful"]);
    expect((await store.chats.listFeedbacks([turn.question.id])).length).toBe(0);
    const page = await store.chats.pageMessages(chat.id, { limit: 1, offset: 1 });
    expect(page).toMatchObject({ total: 2, rows: [{ content: "hello" }] });
    expect((await store.chats.rename(workspaceId, chat.id, "renamed", 4))?.name).toBe("renamed");
    const listed = await store.chats.list(workspaceId, {
      limit: 10,
      offset: 0,
      orderBy: "-updated_at",
      externalUserId: "u",
    });
    expect(listed.total).toBe(1);
  });

  it("indexes files per workspace and hides deleted ones", async () => {
    const { workspaceId } = await seedWorkspace(store);
    await store.files.create(file("f1", workspaceId, 1));
    await store.files.create(file("f2", workspaceId, 2));
    expect((await store.files.list(workspaceId, { limit: 10, offset: 0 })).rows.map((f) => f.id)).toEqual([
      "f2",
      "f1",
    ]);
    expect((await store.files.delete(workspaceId, "f1", 3))?.id).toBe("f1");
    expect(await store.files.get(workspaceId, "f1")).toBeUndefined();
    expect((await store.files.getMany(workspaceId, ["f1", "f2", "f3"])).map((f) => f.id)).toEqual(["f2"]);
    expect(await store.files.get("other", "f2")).toBeUndefined();
  });

  it("sums a workspace's stored bytes and lists files created before a time, deleted ones left out", async () => {
    const { workspaceId } = await seedWorkspace(store);
    expect(await store.files.totalBytes(workspaceId)).toBe(0);
    for (const [id, at] of [
      ["f1", 10],
      ["f2", 20],
      ["f3", 30],
    ] as const)
      await store.files.create(file(id, workspaceId, at));
    expect(await store.files.totalBytes(workspaceId)).toBe(9);
    expect(await store.files.totalBytes("other")).toBe(0);
    expect((await store.files.listCreatedBefore(25, 10)).map((f) => f.id)).toEqual(["f1", "f2"]);
    expect((await store.files.listCreatedBefore(25, 1)).map((f) => f.id)).toEqual(["f1"]);
    await store.files.delete(workspaceId, "f1", 40);
    expect(await store.files.totalBytes(workspaceId)).toBe(6);
    expect((await store.files.listCreatedBefore(25, 10)).map((f) => f.id)).toEqual(["f2"]);
  });
});
