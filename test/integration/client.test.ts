import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentbatchClient, AgentbatchError, type Batch } from "../../src/client/index.js";
import { publishedAgent, startTestServer, type TestServer } from "../helpers/server.js";

describe("the TypeScript client against the real server", () => {
  let t: TestServer;
  let client: AgentbatchClient;
  let agentId: string;

  beforeAll(async () => {
    t = await startTestServer((c) => {
      // Failing items give up fast (the retry test).
      c.engine.maxAttempts = 2;
      c.engine.retryBaseMs = 10;
      c.engine.retryMaxMs = 50;
    });
    client = new AgentbatchClient({ baseUrl: t.url, apiKey: t.key });
    agentId = await publishedAgent(t);
  });
  afterAll(async () => t.close());

  const requests = (count: number, prefix = "req") =>
    Array.from({ length: count }, (_, i) => ({ custom_id: `${prefix}-${i}`, message: `Question ${i}` }));

  it("creates and publishes agents, typed", async () => {
    const agent = await client.agents.create({
      name: "typed",
      model: "simulated/echo",
      system_prompt: "Be brief",
    });
    expect(agent.publish_state).toBe("draft");
    const published = await client.agents.publish(agent.id);
    expect(published.published_version).toBe(1);
    const updated = await client.agents.update(agent.id, { temperature: 0.5 });
    expect(updated.temperature).toBe(0.5);
    expect((await client.agents.get(agent.id)).name).toBe("typed");
    const ids = (await client.agents.list({ limit: 1 }).toArray()).map((a) => a.id);
    expect(ids).toContain(agent.id);
    const publishedIds = (await client.chats.publishedAgents().toArray()).map((a) => a.id);
    expect(publishedIds).toContain(agent.id);
  });

  it("pages through batches with an async iterator (7 batches, pages of 3)", async () => {
    const ws = await t.newWorkspaceKey(`paging-${Date.now()}`);
    const own = new AgentbatchClient({ baseUrl: t.url, apiKey: ws });
    const agent = await own.agents.create({ name: "a", model: "simulated/echo" });
    await own.agents.publish(agent.id);
    const created: string[] = [];
    for (let i = 0; i < 7; i++) {
      created.push((await own.batches.create({ agent_id: agent.id, requests: requests(1) })).id);
    }
    const seen: string[] = [];
    for await (const b of own.batches.list({ limit: 3 })) seen.push(b.id);
    expect(seen).toHaveLength(7);
    expect(new Set(seen)).toEqual(new Set(created));

    const pages: number[] = [];
    for await (const page of own.batches.list({ limit: 3 }).pages()) pages.push(page.data.length);
    expect(pages).toEqual([3, 3, 1]);

    const one = await own.batches.listPage({ limit: 3, offset: 3 });
    expect(one.data).toHaveLength(3);
    expect(one.pagination).toMatchObject({ total_records: 7, total_pages: 3, current_page: 2 });
  });

  it("createBatchAndWait polls to completion and reports progress; results page by 100", async () => {
    const progress: Batch[] = [];
    const done = await client.createBatchAndWait(
      { agent_id: agentId, requests: requests(250), name: "wait-test" },
      { pollIntervalMs: 50, maxPollIntervalMs: 200, onProgress: (b) => progress.push(b) },
    );
    expect(done.status).toBe("completed");
    expect(done.completed_requests).toBe(250);
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress[progress.length - 1].status).toBe("completed");

    const ids: string[] = [];
    for await (const r of client.batches.results(done.id, { limit: 100 })) ids.push(r.custom_id);
    expect(ids).toEqual(requests(250).map((r) => r.custom_id));

    const pages: number[] = [];
    for await (const p of client.batches.results(done.id, { limit: 100 }).pages()) pages.push(p.data.length);
    expect(pages).toEqual([100, 100, 50]);

    const failed = await client.batches.results(done.id, { status: "failed" }).toArray();
    expect(failed).toEqual([]);
    const one = await client.batches.result(done.id, "req-7");
    expect(one.response_content).toContain("Question 7");
  });

  it("throws a typed AgentbatchError on a 404", async () => {
    const err = await client.batches.get("batch_does_not_exist").catch((e) => e);
    expect(err).toBeInstanceOf(AgentbatchError);
    expect(err).toMatchObject({ status: 404, errorCode: 10003 });
    expect(err.message).toMatch(/not found/i);
    expect(err.body).toMatchObject({ error_code: 10003, data: null });
  });

  it("throws 400/10006 naming the field, and 400/10001 for a bad key", async () => {
    const bad = await client.batches.create({ agent_id: agentId, requests: [] }).catch((e) => e);
    expect(bad).toMatchObject({ status: 400, errorCode: 10006 });
    expect(bad.message).toContain("requests");
    const anon = new AgentbatchClient({ baseUrl: t.url, apiKey: "wrong" });
    await expect(anon.batches.get("x")).rejects.toMatchObject({ status: 400, errorCode: 10001 });
  });

  it("controls a batch: pause, resume, cancel, and a 409 on an invalid change", async () => {
    const slow = await client.agents.create({
      name: "slow",
      model: "simulated/echo",
      settings: { latency_ms: 200 },
    });
    await client.agents.publish(slow.id);
    const batch = await client.batches.create({ agent_id: slow.id, requests: requests(20) });
    const paused = await client.batches.pause(batch.id);
    expect(paused.status).toBe("paused");
    expect((await client.batches.active().toArray()).map((b) => b.id)).toContain(batch.id);
    expect((await client.batches.resume(batch.id)).status).toBe("in_progress");
    const cancelled = await client.batches.cancel(batch.id);
    expect(["cancelling", "cancelled"]).toContain(cancelled.status);
    const final = await client.batches.wait(batch.id, { pollIntervalMs: 25 });
    expect(final.status).toBe("cancelled");
    await expect(client.batches.pause(batch.id)).rejects.toMatchObject({ status: 409, errorCode: 10009 });
  });

  it("retries only the failed requests of a finished batch", async () => {
    const flaky = await client.agents.create({
      name: "flaky",
      model: "simulated/echo",
      settings: { error_rate: 1 },
    });
    await client.agents.publish(flaky.id);
    const batch = await client.createBatchAndWait(
      { agent_id: flaky.id, requests: requests(3) },
      { pollIntervalMs: 25 },
    );
    expect(batch.failed_requests).toBe(3);
    const retried = await client.batches.retry(batch.id);
    expect(retried.status).toBe("in_progress");
  });

  it("a create is idempotent: the generated Idempotency-Key makes a repeat return the same batch", async () => {
    const params = { agent_id: agentId, requests: requests(2, "idem") };
    const a = await client.batches.create(params, { idempotencyKey: "key-1" });
    const b = await client.batches.create(params, { idempotencyKey: "key-1" });
    expect(b.id).toBe(a.id);
  });

  it("uploads a JSONL file and creates a batch from file_id", async () => {
    const jsonl = requests(5, "file")
      .map((r) => JSON.stringify(r))
      .join("\n");
    const file = await client.files.upload(jsonl, { filename: "in.jsonl" });
    expect(file.id).toBeTruthy();
    const done = await client.createBatchAndWait(
      { agent_id: agentId, file_id: file.id },
      { pollIntervalMs: 25 },
    );
    expect(done).toMatchObject({ status: "completed", total_requests: 5 });
  });

  it("exports results as CSV, JSONL and JSON", async () => {
    const done = await client.createBatchAndWait(
      { agent_id: agentId, requests: requests(3, "exp") },
      { pollIntervalMs: 25 },
    );
    const jsonl = await client.batches.exportText(done.id, "jsonl");
    expect(
      jsonl
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).custom_id),
    ).toEqual(["exp-0", "exp-1", "exp-2"]);
    const csv = await client.batches.exportText(done.id, "csv");
    expect(csv.split("\n")[0]).toContain("custom_id");
    const json = JSON.parse(await client.batches.exportText(done.id, "json"));
    expect(Array.isArray(json) ? json : json.data).toHaveLength(3);
  });

  it("chats: create, send (whole answer and streamed), list messages", async () => {
    const chat = await client.chats.create({ agent_id: agentId, name: "client chat" });
    const answer = await client.chats.send(chat.id, { message: "Hello there" });
    expect(answer).toContain("Hello there");
    const types: string[] = [];
    for await (const e of client.chats.sendStream(chat.id, { message: "Again" })) types.push(e.event);
    expect(types[0]).toBe("response.created");
    expect(types).toContain("response.output_text.completed");
    const messages = await client.chats.messages(chat.id, { limit: 3 }).toArray();
    expect(messages.map((m) => m.role)).toEqual(["user", "assistant", "user", "assistant"]);
    expect((await client.chats.list({ agent_id: agentId }).toArray()).map((c) => c.id)).toContain(chat.id);
    expect((await client.chats.get(chat.id)).name).toBe("client chat");
  });

  it("follows live progress by Server-Sent Events to the end", async () => {
    const batch = await client.batches.create({ agent_id: agentId, requests: requests(10, "sse") });
    const kinds: string[] = [];
    for await (const e of client.batches.events(batch.id)) {
      kinds.push(e.event);
      if (e.event === "done") break;
    }
    expect(kinds[0]).toBe("snapshot");
    expect(kinds[kinds.length - 1]).toBe("done");
  });
});
