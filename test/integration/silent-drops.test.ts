/**
 * What a client asks for is honoured or refused by name, never dropped: agent settings reach the
 * provider (or the agent is refused), bodiless routes refuse fields, batch creates of the OpenAI
 * and Anthropic shapes refuse fields they do not run, upload forms refuse unknown fields.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type MockLlm, startMockLlm } from "../../src/mock-llm/server.js";
import { postFile } from "../helpers/files.js";
import {
  publishedAgent,
  startTestServer,
  type TestServer,
  waitFor,
  waitForBatch,
  waitForIngest,
} from "../helpers/server.js";

let t: TestServer;
let mock: MockLlm;
let agentId: string;

beforeAll(async () => {
  mock = await startMockLlm({ captureBodies: true });
  t = await startTestServer((c) => {
    c.providers.mockoai = { type: "openai-compatible", baseUrl: mock.url, apiKey: "sk-test" };
    c.providers.mockant = { type: "anthropic", baseUrl: mock.url, apiKey: "test" };
  });
  agentId = await publishedAgent(t);
});

afterAll(async () => {
  await t.close();
  await mock.close();
});

const expectCodeer400 = (res: { status: number; body: any }, message: string | RegExp) => {
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  expect(res.body).toMatchObject({ data: null, error_code: 10006 });
  if (typeof message === "string") expect(res.body.message).toBe(message);
  else expect(res.body.message).toMatch(message);
};

const lastChatBody = () =>
  mock.requests.filter((r) => r.path.endsWith("/chat/completions") || r.path.endsWith("/messages")).at(-1)
    ?.body as Record<string, unknown>;

describe("agent settings", () => {
  it("sends every model parameter in settings to an OpenAI-compatible provider", async () => {
    const id = await publishedAgent(t, {
      model: "mockoai/gpt-4o-mini",
      settings: { top_p: 0.5, stop: ["END"], seed: 7, frequency_penalty: 0.25, presence_penalty: -0.5 },
    });
    const created = await t.api("POST", "/api/v1/batches", {
      agent_id: id,
      requests: [{ custom_id: "a", message: "hello" }],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    const batch = await waitForBatch(t, created.body.data.id);
    expect(batch.status).toBe("completed");
    expect(lastChatBody()).toMatchObject({
      top_p: 0.5,
      stop: ["END"],
      seed: 7,
      frequency_penalty: 0.25,
      presence_penalty: -0.5,
    });
  });

  it("sends top_p and stop to an Anthropic provider, and refuses what it cannot take, naming it", async () => {
    const id = await publishedAgent(t, {
      model: "mockant/claude-haiku",
      settings: { top_p: 0.4, stop: "STOP" },
    });
    const created = await t.api("POST", "/api/v1/batches", {
      agent_id: id,
      requests: [{ custom_id: "a", message: "hello" }],
    });
    expect((await waitForBatch(t, created.body.data.id)).status).toBe("completed");
    expect(lastChatBody()).toMatchObject({ top_p: 0.4, stop_sequences: ["STOP"] });

    expectCodeer400(
      await t.api("POST", "/api/v1/agents", {
        name: "a",
        model: "mockant/claude-haiku",
        settings: { seed: 1 },
      }),
      /^settings\.seed: not supported by provider "mockant" \(anthropic\)/,
    );
    // A model change is checked against the settings the agent already has, and the reverse.
    const seeded = await t.api("POST", "/api/v1/agents", {
      name: "b",
      model: "mockoai/gpt-4o-mini",
      settings: { seed: 1 },
    });
    expect(seeded.status, JSON.stringify(seeded.body)).toBe(201);
    expectCodeer400(
      await t.api("PATCH", `/api/v1/agents/${seeded.body.data.id}`, { model: "mockant/claude-haiku" }),
      /^settings\.seed: not supported by provider "mockant"/,
    );
    expectCodeer400(
      await t.api("PATCH", `/api/v1/agents/${id}`, { settings: { presence_penalty: 1 } }),
      /^settings\.presence_penalty: not supported by provider "mockant"/,
    );
  });

  it("fails a turn of a stored agent whose settings became invalid, naming the setting", async () => {
    // As if saved agents outlived the check (a provider's type changed in the config, a setting
    // saved before its value was checked): the store takes changes the API would refuse.
    const stale = [
      {
        patch: { model: "mockant/claude-haiku" },
        error: /^the agent's settings\.seed: not supported by provider "mockant"/,
      },
      {
        patch: { settings: { top_p: 3 } },
        error: /^the agent's settings\.top_p: must be a number from 0 to 1/,
      },
    ];
    for (const { patch, error } of stale) {
      const created = await t.api("POST", "/api/v1/agents", {
        name: "stale",
        model: "mockoai/gpt-4o-mini",
        settings: { seed: 1 },
      });
      const agent = created.body.data;
      await t.service.store.agents.update(agent.workspace_id, agent.id, patch, Date.now());
      expect((await t.api("POST", `/api/v1/agents/${agent.id}/publish`)).status).toBe(200);
      const before = mock.requests.length;
      const batch = await t.api("POST", "/api/v1/batches", {
        agent_id: agent.id,
        requests: [{ custom_id: "a", message: "hello" }],
      });
      expect(batch.status, JSON.stringify(batch.body)).toBe(202);
      expect(await waitForBatch(t, batch.body.data.id)).toMatchObject({ failed_requests: 1 });
      const [item] = (await t.api("GET", `/api/v1/batches/${batch.body.data.id}/results`)).body.data;
      expect(item).toMatchObject({ custom_id: "a", status: "failed", error_code: 400 });
      expect(item.error_message).toMatch(error);
      expect(mock.requests.length).toBe(before);
    }
  });

  it("refuses unknown settings, bad values and the simulator's options on a real provider", async () => {
    expectCodeer400(
      await t.api("POST", "/api/v1/agents", { name: "a", model: "simulated/echo", settings: { topp: 1 } }),
      /^settings\.topp is not a known setting; use top_p, stop, seed/,
    );
    expectCodeer400(
      await t.api("POST", "/api/v1/agents", {
        name: "a",
        model: "simulated/echo",
        settings: { latency_ms: "fast" },
      }),
      /^settings\.latency_ms: must be a number/,
    );
    expectCodeer400(
      await t.api("POST", "/api/v1/agents", {
        name: "a",
        model: "mockoai/gpt-4o-mini",
        settings: { error_rate: 1 },
      }),
      /^settings\.error_rate: not supported by provider "mockoai" \(openai-compatible\)/,
    );
    expectCodeer400(
      await t.api("PATCH", `/api/v1/agents/${agentId}`, { settings: { top_p: 3 } }),
      "settings.top_p: must be a number from 0 to 1",
    );
  });
});

describe("routes that read no body", () => {
  it("refuse a field sent to them, and still take none or {}", async () => {
    const slow = await publishedAgent(t, { model: "simulated/echo?latency_ms=20000" });
    const created = await t.api("POST", "/api/v1/batches", {
      agent_id: slow,
      requests: [{ custom_id: "a", message: "one" }],
    });
    const id = created.body.data.id;
    expectCodeer400(
      await t.api("POST", `/api/v1/batches/${id}/retry`, { custom_ids: ["a"] }),
      "custom_ids is not a known field",
    );
    expectCodeer400(
      await t.api("POST", `/api/v1/agents/${agentId}/publish`, { version: 3 }),
      "version is not a known field",
    );
    expect((await t.api("POST", `/api/v1/batches/${id}/pause`, {})).status).toBe(200);
    expect((await t.api("POST", `/api/v1/batches/${id}/cancel`)).status).toBeLessThan(300);

    const openai = await t.api("POST", "/v1/batches/batch_x/cancel", { reason: "x" });
    expect(openai.status).toBe(400);
    expect(openai.body.error).toMatchObject({ param: "reason" });
    const anthropic = await t.api("POST", "/v1/messages/batches/msgbatch_x/cancel", { reason: "x" });
    expect(anthropic.status).toBe(400);
    expect(anthropic.body.error.message).toBe("reason: Extra inputs are not permitted");
  });
});

describe("batch creates of the OpenAI and Anthropic shapes", () => {
  it("refuse a field they do not honour, naming it", async () => {
    const openai = await t.api("POST", "/v1/batches", {
      input_file_id: "file-x",
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
      output_expires_after: { anchor: "created_at", seconds: 3600 },
    });
    expect(openai.status, JSON.stringify(openai.body)).toBe(400);
    expect(openai.body.error).toMatchObject({
      type: "invalid_request_error",
      param: "output_expires_after",
      message: "Unrecognized request argument supplied: output_expires_after",
    });

    const params = { model: "claude-haiku", max_tokens: 10, messages: [{ role: "user", content: "hi" }] };
    const top = await t.api("POST", "/v1/messages/batches", {
      requests: [{ custom_id: "a", params }],
      webhook: "https://example.com",
    });
    expect(top.status, JSON.stringify(top.body)).toBe(400);
    expect(top.body.error.message).toBe("webhook: Extra inputs are not permitted");
    const inner = await t.api("POST", "/v1/messages/batches", {
      requests: [{ custom_id: "a", params, priority: 1 }],
    });
    expect(inner.status, JSON.stringify(inner.body)).toBe(400);
    expect(inner.body.error.message).toMatch(
      /^requests\.0\.priority: Extra inputs are not permitted|^requests\[0\]\.priority/,
    );
  });
});

describe("results exports", () => {
  it("refuse limit and offset, which an export (every result) cannot apply, and keep status", async () => {
    const created = await t.api("POST", "/api/v1/batches", {
      agent_id: agentId,
      requests: [{ custom_id: "a", message: "one" }],
    });
    const id = created.body.data.id;
    await waitForBatch(t, id);
    expectCodeer400(
      await t.api("GET", `/api/v1/batches/${id}/results?format=jsonl&limit=10`),
      /^limit: an export \(format=jsonl\) has every result and is not paginated/,
    );
    expectCodeer400(
      await t.api("GET", `/api/v1/batches/${id}/results?offset=5&format=csv`),
      /^offset: an export \(format=csv\)/,
    );
    const res = await fetch(`${t.url}/api/v1/batches/${id}/results?format=jsonl&status=success`, {
      headers: { "x-api-key": t.key },
    });
    expect(res.status).toBe(200);
    expect((await res.text()).trim().split("\n")).toHaveLength(1);
  });
});

describe("Idempotency-Key", () => {
  const post = (path: string, body: unknown) =>
    fetch(`${t.url}${path}`, {
      method: "POST",
      headers: { "x-api-key": t.key, "content-type": "application/json", "idempotency-key": "k-1" },
      body: JSON.stringify(body),
    });

  it("is refused, naming it, by routes that do not honour it, in each API's shape", async () => {
    const chat = await post("/api/v1/chats", { agent_id: agentId });
    const body = await chat.json();
    expect(chat.status, JSON.stringify(body)).toBe(400);
    expect(body).toMatchObject({ data: null, error_code: 10006 });
    expect(body.message).toMatch(/^Idempotency-Key: not honoured by this route/);
    const openai = await post("/v1/batches", {
      input_file_id: "file-x",
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    expect(openai.status).toBe(400);
    expect((await openai.json()).error.message).toMatch(/^Idempotency-Key/);
    const anthropic = await post("/v1/messages/batches", { requests: [] });
    expect(anthropic.status).toBe(400);
    const refused = await anthropic.json();
    expect(refused).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
    expect(refused.error.message).toMatch(/^Idempotency-Key/);
  });

  it("is honoured by the batch create", async () => {
    const body = { agent_id: agentId, requests: [{ custom_id: "a", message: "one" }] };
    const first = await post("/api/v1/batches", body);
    const again = await post("/api/v1/batches", body);
    expect(first.status).toBe(202);
    expect((await again.json()).data.id).toBe((await first.json()).data.id);
  });
});

describe("query parameters of the client tool calls list", () => {
  it("refuse one the route does not know", async () => {
    expectCodeer400(
      await t.api("GET", "/api/v1/batches/b_x/tool-calls?state=pending"),
      "state is not a known query parameter",
    );
  });
});

describe("upload forms", () => {
  const upload = (path: string, fields: Record<string, string>) =>
    postFile(`${t.url}${path}`, t.key, fields, "custom_id,message\na,hi\n", "q.csv");

  it("refuse a field the upload does not read, naming it", async () => {
    const codeer = await upload("/api/v1/files", { purpose: "batch_input", expires_after: "3600" });
    const body = await codeer.json();
    expect(codeer.status, JSON.stringify(body)).toBe(400);
    expect(body.message).toBe("expires_after is not a known form field; this upload takes file, purpose");

    const attachment = await upload("/api/v1/chats/upload-file", { visibility: "private" });
    expect(attachment.status).toBe(400);
    expect((await attachment.json()).message).toBe(
      "visibility is not a known form field; this upload takes file, scope",
    );

    const openai = await upload("/v1/files", { purpose: "batch", "expires_after[anchor]": "created_at" });
    const err = (await openai.json()).error;
    expect(openai.status, JSON.stringify(err)).toBe(400);
    expect(err).toMatchObject({ param: "expires_after[anchor]" });

    // The fields they read still work.
    expect((await upload("/api/v1/files", { purpose: "batch_input" })).status).toBe(201);
    expect((await upload("/v1/files", { purpose: "batch" })).status).toBe(200);
  });
});

describe("input file rows", () => {
  const uploadFile = async (path: string, purpose: string, name: string, content: string) =>
    (await (
      await postFile(`${t.url}${path}`, t.key, { purpose }, content, name, "application/jsonl")
    ).json()) as any;

  /** Runs an OpenAI batch of `lines`; the batch, and each failed line's error message by custom_id. */
  const runOpenAI = async (endpoint: string, lines: Record<string, unknown>[]) => {
    const content = `${lines.map((l) => JSON.stringify(l)).join("\n")}\n`;
    const file = await uploadFile("/v1/files", "batch", "in.jsonl", content);
    const created = await t.api("POST", "/v1/batches", {
      input_file_id: file.id,
      endpoint,
      completion_window: "24h",
    });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    const batch = await waitFor(
      async () => {
        const b = (await t.api("GET", `/v1/batches/${created.body.id}`)).body;
        return ["completed", "failed"].includes(b.status) ? b : null;
      },
      { what: "the OpenAI batch to end" },
    );
    const errors = new Map<string, string>();
    if (batch.error_file_id) {
      const res = await fetch(`${t.url}/v1/files/${batch.error_file_id}/content`, {
        headers: { "x-api-key": t.key },
      });
      for (const line of (await res.text()).trim().split("\n")) {
        const e = JSON.parse(line);
        errors.set(e.custom_id, e.error?.message ?? e.response?.body?.error?.message);
      }
    }
    return { batch, errors };
  };

  const runResponses = (bodies: Record<string, Record<string, unknown>>) =>
    runOpenAI(
      "/v1/responses",
      Object.entries(bodies).map(([custom_id, body]) => ({
        custom_id,
        method: "POST",
        url: "/v1/responses",
        body,
      })),
    );

  it("fail a Responses line whose user is not a string, naming it", async () => {
    const { batch } = await runResponses({ a: { model: "mockant/claude-haiku", input: "hi", user: 5 } });
    expect(batch.status).toBe("failed");
    expect(batch.errors.data).toMatchObject([{ param: "body.user", line: 1 }]);
  });

  it("carry a Responses line's empty metadata as a chat line does: sent where honoured, refused by name where not", async () => {
    const { batch, errors } = await runResponses({
      oai: { model: "mockoai/gpt-4o-mini", input: "hi", metadata: {} },
      ant: { model: "mockant/claude-haiku", input: "hi", metadata: {} },
    });
    expect(batch.request_counts).toMatchObject({ total: 2, completed: 1, failed: 1 });
    expect(errors.get("ant")).toMatch(/^metadata: not supported by provider "mockant"/);
    // mockoai serves /v1/responses: the line goes through as written, its metadata with it.
    const sent = mock.requests.filter((r) => r.path.endsWith("/responses")).at(-1)?.body as any;
    expect(sent.metadata).toEqual({});
  });

  it("fail an OpenAI batch on a line key beyond custom_id, method, url and body, naming it", async () => {
    const body = { model: "simulated/echo", messages: [{ role: "user", content: "hi" }] };
    const line = { custom_id: "a", method: "POST", url: "/v1/chat/completions", body, metadata: { k: "v" } };
    const { batch } = await runOpenAI("/v1/chat/completions", [line]);
    expect(batch.status).toBe("failed");
    expect(batch.errors.data).toMatchObject([{ param: "metadata", line: 1 }]);
    expect(batch.errors.data[0].message).toContain("metadata");
  });

  it("fail a Codeer file row carrying a request field files cannot carry, naming it", async () => {
    const rows = [
      { custom_id: "a", message: "hi" },
      { custom_id: "b", message: "hi", attached_file_uuids: ["f1"] },
      { custom_id: "c", message: "hi", webhook: { url: "https://example.com/h" } },
    ];
    const file = await uploadFile(
      "/api/v1/files",
      "batch_input",
      "rows.jsonl",
      `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`,
    );
    const created = await t.api("POST", "/api/v1/batches", { agent_id: agentId, file_id: file.data.id });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    const b = await waitForIngest(t, created.body.data.id);
    expect(b.status).toBe("failed");
    const byRow = new Map(b.validation_errors.map((e: any) => [e.row, e.error]));
    expect([...byRow.keys()].sort()).toEqual([2, 3]);
    expect(byRow.get(2)).toMatch(/^attached_file_uuids: not read from input files/);
    expect(byRow.get(3)).toMatch(/^webhook: not read from input files/);
  });
});
