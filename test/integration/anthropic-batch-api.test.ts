import Anthropic from "@anthropic-ai/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer, waitFor } from "../helpers/server.js";

type MessageBatch = Anthropic.Messages.Batches.MessageBatch;

function requests(n: number, model: string, prefix = "q") {
  return Array.from({ length: n }, (_, i) => ({
    custom_id: `${prefix}_${i}`,
    params: {
      model,
      max_tokens: 128,
      system: "Answer briefly.",
      messages: [{ role: "user" as const, content: [{ type: "text" as const, text: `Prompt ${i}` }] }],
    },
  }));
}

async function waitForEnded(client: Anthropic, id: string): Promise<MessageBatch> {
  return (await waitFor<MessageBatch | null>(
    async () => {
      const b = await client.messages.batches.retrieve(id);
      return b.processing_status === "ended" ? b : null;
    },
    { what: `message batch ${id} to end` },
  )) as MessageBatch;
}

describe("the Anthropic Message Batches API with the official SDK", () => {
  let t: TestServer;
  let client: Anthropic;
  beforeAll(async () => {
    t = await startTestServer((c) => {
      c.engine.concurrency = 8;
      c.models = { "claude-sonnet-4": "simulated/claude-sonnet-4" };
    });
    client = new Anthropic({ baseURL: t.url, apiKey: t.key, maxRetries: 0 });
  });
  afterAll(async () => t.close());

  it("creates a batch, polls it to ended and iterates results()", async () => {
    const created = await client.messages.batches.create({ requests: requests(40, "claude-sonnet-4") });
    expect(created).toMatchObject({
      type: "message_batch",
      processing_status: "in_progress",
      results_url: null,
    });
    expect(created.id).toMatch(/^msgbatch_/);
    expect(created.request_counts.processing + created.request_counts.succeeded).toBe(40);

    const ended = await waitForEnded(client, created.id);
    expect(ended.request_counts).toEqual({
      processing: 0,
      succeeded: 40,
      errored: 0,
      canceled: 0,
      expired: 0,
    });
    expect(ended.ended_at).not.toBeNull();
    expect(ended.results_url).toBe(`${t.url}/v1/messages/batches/${created.id}/results`);

    const seen = new Map<string, Anthropic.Messages.Batches.MessageBatchIndividualResponse>();
    for await (const r of await client.messages.batches.results(created.id)) seen.set(r.custom_id, r);
    expect(seen.size).toBe(40);
    const r7 = seen.get("q_7");
    expect(r7?.result.type).toBe("succeeded");
    if (r7?.result.type !== "succeeded") throw new Error("unreachable");
    expect(r7.result.message).toMatchObject({
      type: "message",
      role: "assistant",
      model: "claude-sonnet-4",
      content: [{ type: "text", text: "Echo: Prompt 7" }],
      stop_reason: "end_turn",
    });
    expect(r7.result.message.usage.input_tokens).toBeGreaterThan(0);
    expect(r7.result.message.usage.output_tokens).toBeGreaterThan(0);

    // The Codeer routes see the same batch.
    const codeer = await t.api("GET", `/api/v1/batches/${created.id}`);
    expect(codeer.body.data).toMatchObject({ status: "completed", completed_requests: 40 });
  });

  it("answers bad input with the SDK's typed errors", async () => {
    const bad = client.messages.batches.create({
      requests: [{ ...requests(1, "simulated/echo")[0], custom_id: "has spaces!" }],
    });
    await expect(bad).rejects.toBeInstanceOf(Anthropic.BadRequestError);
    await expect(bad).rejects.toMatchObject({
      error: { type: "error", error: { type: "invalid_request_error" } },
    });
    const dup = requests(2, "simulated/echo");
    dup[1].custom_id = dup[0].custom_id;
    await expect(client.messages.batches.create({ requests: dup })).rejects.toBeInstanceOf(
      Anthropic.BadRequestError,
    );
    const noMax = requests(1, "simulated/echo") as any[];
    delete noMax[0].params.max_tokens;
    await expect(client.messages.batches.create({ requests: noMax })).rejects.toThrow(/max_tokens/);
    await expect(
      client.messages.batches.create({ requests: requests(1, "gpt-unknown") }),
    ).rejects.toBeInstanceOf(Anthropic.BadRequestError);
    await expect(client.messages.batches.retrieve("msgbatch_nope")).rejects.toBeInstanceOf(
      Anthropic.NotFoundError,
    );
    const badKey = new Anthropic({ baseURL: t.url, apiKey: "ab_wrong", maxRetries: 0 });
    await expect(badKey.messages.batches.list()).rejects.toBeInstanceOf(Anthropic.AuthenticationError);
  });

  it("cancels mid-way, reports canceled results, lists with cursors and deletes ended batches", async () => {
    const created = await client.messages.batches.create({
      requests: requests(200, "simulated/echo?latency_ms=40", "slow"),
    });
    await waitFor(async () => (await client.messages.batches.retrieve(created.id)).request_counts.succeeded, {
      what: "some requests to succeed",
    });
    await expect(client.messages.batches.delete(created.id)).rejects.toBeInstanceOf(
      Anthropic.BadRequestError,
    );
    const cancelling = await client.messages.batches.cancel(created.id);
    expect(["canceling", "ended"]).toContain(cancelling.processing_status);
    expect(cancelling.cancel_initiated_at).not.toBeNull();
    const ended = await waitForEnded(client, created.id);
    const counts = ended.request_counts;
    expect(counts.succeeded).toBeGreaterThan(0);
    expect(counts.canceled).toBeGreaterThan(0);
    expect(counts.succeeded + counts.canceled + counts.errored).toBe(200);
    let canceled = 0;
    for await (const r of await client.messages.batches.results(created.id)) {
      if (r.result.type === "canceled") canceled++;
    }
    expect(canceled).toBe(counts.canceled);

    // Newest first, paged with after_id / before_id.
    const first = await client.messages.batches.list({ limit: 1 });
    expect(first.data[0].id).toBe(created.id);
    expect(first.has_more).toBe(true);
    const second = await client.messages.batches.list({ limit: 1, after_id: first.last_id as string });
    expect(second.data).toHaveLength(1);
    expect(second.data[0].id).not.toBe(created.id);
    const back = await client.messages.batches.list({ limit: 1, before_id: second.data[0].id });
    expect(back.data[0].id).toBe(created.id);

    const deleted = await client.messages.batches.delete(created.id);
    expect(deleted).toEqual({ id: created.id, type: "message_batch_deleted" });
    await expect(client.messages.batches.retrieve(created.id)).rejects.toBeInstanceOf(
      Anthropic.NotFoundError,
    );
  });
});
