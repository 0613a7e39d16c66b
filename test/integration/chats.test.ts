import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  publishedAgent,
  startTestServer,
  type TestServer,
  waitFor,
  waitForBatch,
} from "../helpers/server.js";

const ATTACHMENT_LIMIT = 64 * 1024;

interface Frame {
  event: string | null;
  data: string;
  at: number;
}

/** Reads Server-Sent Events frames as they arrive, stamping each with its arrival time. */
async function* readFrames(res: Response): AsyncGenerator<Frame> {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
      const raw = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event: string | null = null;
      const data: string[] = [];
      for (const line of raw.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data.push(line.slice(6));
        else throw new Error(`unexpected SSE line: ${JSON.stringify(line)}`);
      }
      expect(data).toHaveLength(1);
      yield { event, data: data[0], at: Date.now() };
    }
  }
}

function filesUnder(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((d) => d.isFile())
      .map((d) => join(d.parentPath, d.name));
  } catch {
    return [];
  }
}

describe("the Chat API", () => {
  let t: TestServer;
  let dataDir: string;
  let agentId: string;
  let slowAgentId: string;

  const upload = async (
    name: string,
    type: string,
    content: string | Uint8Array,
    key = t.key,
    scope?: string,
  ) => {
    const form = new FormData();
    if (scope) form.append("scope", scope);
    form.append("file", new Blob([content as BlobPart], { type }), name);
    const res = await fetch(`${t.url}/api/v1/chats/upload-file`, {
      method: "POST",
      headers: { "x-api-key": key },
      body: form,
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  const newChat = async (body: Record<string, unknown> = {}, key?: string) => {
    const r = await t.api("POST", "/api/v1/chats", { agent_id: agentId, name: "a chat", ...body }, key);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body.data as { id: number };
  };

  const say = async (chatId: number, message: string, extra: Record<string, unknown> = {}, key?: string) =>
    t.api("POST", `/api/v1/chats/${chatId}/messages`, { message, stream: false, ...extra }, key);

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "agentbatch-chats-"));
    t = await startTestServer((c) => {
      c.dataDir = dataDir;
      c.maxAttachmentBytes = ATTACHMENT_LIMIT;
    });
    agentId = await publishedAgent(t, { name: "chat agent", system_prompt: "Be brief." });
    slowAgentId = await publishedAgent(t, { name: "slow agent", model: "simulated/echo?latency_ms=300" });
  });
  afterAll(async () => {
    await t.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("creates, lists, renames and gets chats", async () => {
    const external = `user-${crypto.randomUUID()}`;
    const created = await t.api("POST", "/api/v1/chats", {
      agent_id: agentId,
      name: "first",
      external_user_id: external,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      error_code: 0,
      message: null,
      data: { name: "first", external_user_id: external, meta: { agent_id: agentId } },
    });
    const first = created.body.data;
    expect(Number.isInteger(first.id)).toBe(true);
    expect(first.created_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    const second = await newChat({ name: "second", external_user_id: external });

    const listed = await t.api("GET", `/api/v1/chats?external_user_id=${external}`);
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((c: any) => c.id)).toEqual([second.id, first.id]);
    expect(listed.body.pagination).toMatchObject({ limit: 50, offset: 0, total_records: 2, current_page: 1 });
    const oldestFirst = await t.api("GET", `/api/v1/chats?external_user_id=${external}&order_by=created_at`);
    expect(oldestFirst.body.data.map((c: any) => c.id)).toEqual([first.id, second.id]);
    const paged = await t.api("GET", `/api/v1/chats?external_user_id=${external}&limit=1`);
    expect(paged.body.data).toHaveLength(1);
    expect(paged.body.pagination.next_page).toContain("offset=1");

    const renamed = await t.api("PUT", `/api/v1/chats/${first.id}`, { name: "renamed" });
    expect(renamed.status).toBe(200);
    expect(renamed.body.data).toMatchObject({ id: first.id, name: "renamed" });
    const byUpdate = await t.api("GET", `/api/v1/chats?external_user_id=${external}&order_by=-updated_at`);
    expect(byUpdate.body.data[0].id).toBe(first.id);
    expect((await t.api("GET", `/api/v1/chats/${first.id}`)).body.data.name).toBe("renamed");

    const other = await t.api("GET", `/api/v1/chats?agent_id=${slowAgentId}&external_user_id=${external}`);
    expect(other.body.data).toEqual([]);
  });

  it("rejects bad chat input with a 400 that names the field", async () => {
    const bad = await t.api("GET", "/api/v1/chats?order_by=name");
    expect(bad.status).toBe(400);
    expect(bad.body.error_code).toBe(10006);
    expect(bad.body.message).toContain("order_by");
    const tooMany = await t.api("GET", "/api/v1/chats?limit=1001");
    expect(tooMany.status).toBe(400);
    const long = await t.api("POST", "/api/v1/chats", { agent_id: agentId, name: "x".repeat(257) });
    expect(long.status).toBe(400);
    expect(long.body.message).toContain("name");
    const missing = await t.api("POST", "/api/v1/chats", { agent_id: "nope" });
    expect(missing.status).toBe(400);
    expect(missing.body.message).toContain("agent_id");
    const draft = await t.api("POST", "/api/v1/agents", { name: "draft", model: "simulated/echo" });
    const unpublished = await t.api("POST", "/api/v1/chats", { agent_id: draft.body.data.id });
    expect(unpublished.status).toBe(400);
    expect(unpublished.body.message).toContain("published");
    const rename = await t.api("PUT", "/api/v1/chats/999999", { name: "x" });
    expect(rename.status).toBe(404);
  });

  it("streams the answer token by token as Server-Sent Events", async () => {
    const chat = await newChat({ agent_id: slowAgentId });
    const message = "Tell me about streaming answers one small piece after another, please";
    const res = await fetch(`${t.url}/api/v1/chats/${chat.id}/messages`, {
      method: "POST",
      headers: { "x-api-key": t.key, "content-type": "application/json" },
      body: JSON.stringify({ message }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const frames: Frame[] = [];
    for await (const frame of readFrames(res)) frames.push(frame);

    expect(frames.at(-1)).toMatchObject({ event: null, data: "[DONE]" });
    const events = frames.slice(0, -1).map((f) => ({ ...f, json: JSON.parse(f.data) }));
    for (const e of events) {
      expect(e.json.type).toBe(e.event);
      expect(e.json.chat_id).toBe(chat.id);
      expect(e.json.response_id).toBe(events[0].json.response_id);
    }
    expect(events[0].event).toBe("response.created");
    const deltas = events.filter((e) => e.event === "response.output_text.delta");
    const completed = events.at(-1) as (typeof events)[number];
    expect(completed.event).toBe("response.output_text.completed");
    expect(deltas.length).toBeGreaterThanOrEqual(4);
    // The deltas arrived over the model's 300 ms, not in one piece at the end.
    expect(completed.at - deltas[0].at).toBeGreaterThanOrEqual(100);
    expect(deltas.filter((d) => d.at < completed.at).length).toBeGreaterThanOrEqual(3);
    const text = deltas.map((d) => d.json.delta).join("");
    expect(text).toBe(`Echo: ${message}`);
    expect(completed.json.final_text).toBe(text);
    const usage = completed.json.usage;
    expect(usage.total_calls).toBe(1);
    expect(usage.total_tokens).toBe(usage.total_prompt_tokens + usage.total_completion_tokens);
    expect(usage.total_completion_tokens).toBeGreaterThan(0);

    const messages = (await t.api("GET", `/api/v1/chats/${chat.id}/messages`)).body.data;
    expect(messages.map((m: any) => m.role)).toEqual(["user", "assistant"]);
    expect(messages[1]).toMatchObject({
      content: text,
      group_id: messages[0].id,
      meta: { token_usage: { total_tokens: usage.total_tokens } },
    });
    expect(messages[0].group_id).toBe(messages[0].id);
    expect(messages[1].meta.response_time_ms).toBeGreaterThanOrEqual(250);
  });

  it("answers with the text in data when stream is false, with the chat's history as context", async () => {
    const chat = await newChat();
    const first = await say(chat.id, "Hello there");
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ data: "Echo: Hello there", message: null, error_code: 0 });
    const second = await say(chat.id, "Again");
    expect(second.body.data).toBe("Echo: Again (context: 2 earlier messages)");
    const messages = (await t.api("GET", `/api/v1/chats/${chat.id}/messages`)).body.data;
    expect(messages.map((m: any) => m.content)).toEqual([
      "Hello there",
      "Echo: Hello there",
      "Again",
      "Echo: Again (context: 2 earlier messages)",
    ]);
    expect(messages[3].group_id).toBe(messages[2].id);
    expect(messages[3].meta.token_usage.prompt_tokens).toBeGreaterThan(0);
    expect(messages[3].attached_files).toEqual([]);
  });

  it("stores the finished answer when the client disconnects mid-stream", async () => {
    const chat = await newChat({ agent_id: slowAgentId });
    const abort = new AbortController();
    const res = await fetch(`${t.url}/api/v1/chats/${chat.id}/messages`, {
      method: "POST",
      headers: { "x-api-key": t.key, "content-type": "application/json" },
      body: JSON.stringify({ message: "a question whose answer nobody waits for" }),
      signal: abort.signal,
    });
    let sawDelta = false;
    try {
      for await (const frame of readFrames(res)) {
        if (frame.event === "response.output_text.delta") {
          sawDelta = true;
          abort.abort();
        }
      }
    } catch (err) {
      expect((err as Error).name).toBe("AbortError");
    }
    expect(sawDelta).toBe(true);
    const messages = await waitFor(
      async () => {
        const r = await t.api("GET", `/api/v1/chats/${chat.id}/messages`);
        return r.body.data.length === 2 ? r.body.data : null;
      },
      { what: "the reply to be stored", timeoutMs: 5000 },
    );
    expect(messages[1].content).toBe("Echo: a question whose answer nobody waits for");
  });

  it("reports a failing model as response.error, and as an error envelope without streaming", async () => {
    const failing = await publishedAgent(t, { name: "broken", model: "simulated/fail-400" });
    const chat = await newChat({ agent_id: failing });
    const res = await fetch(`${t.url}/api/v1/chats/${chat.id}/messages`, {
      method: "POST",
      headers: { "x-api-key": t.key, "content-type": "application/json" },
      body: JSON.stringify({ message: "hi" }),
    });
    const frames: Frame[] = [];
    for await (const frame of readFrames(res)) frames.push(frame);
    expect(frames.map((f) => f.event)).toEqual(["response.created", "response.error", null]);
    expect(JSON.parse(frames[1].data)).toMatchObject({ type: "response.error", code: 400, chat_id: chat.id });
    const plain = await say(chat.id, "hi");
    expect(plain.status).toBe(400);
    expect(plain.body.error_code).toBe(10006);
    // A message may name another published agent of the workspace.
    const other = await say(chat.id, "hi", { agent_id: agentId });
    expect(other.body.data).toBe("Echo: hi");
  });

  it("uploads attachments, serves them back, and rejects files too large or of the wrong type", async () => {
    const up = await upload("notes.txt", "text/plain", "the secret word is pineapple", t.key, "ephemeral");
    expect(up.status).toBe(201);
    expect(up.body.data).toMatchObject({
      original_name: "notes.txt",
      content_type: "text/plain",
      size: 28,
      scope: "ephemeral",
    });
    expect(up.body.data.file_url).toBe(`${t.url}/api/v1/chats/files/${up.body.data.uuid}`);
    const download = await fetch(up.body.data.file_url, { headers: { "x-api-key": t.key } });
    expect(download.status).toBe(200);
    expect(await download.text()).toBe("the secret word is pineapple");
    const anonymous = await fetch(up.body.data.file_url);
    expect(anonymous.status).toBe(400);
    // The type is taken from the name when the client sends none.
    const guessed = await upload("data.json", "", '{"a": 1}');
    expect(guessed.body.data.content_type).toBe("application/json");

    const before = filesUnder(join(dataDir, "files"));
    const tooLarge = await upload("big.txt", "text/plain", "x".repeat(ATTACHMENT_LIMIT * 3));
    expect(tooLarge.status).toBe(400);
    expect(tooLarge.body.error_code).toBe(10006);
    expect(tooLarge.body.message).toContain(`limit of ${ATTACHMENT_LIMIT} bytes`);
    const zip = await upload("archive.zip", "application/zip", new Uint8Array([80, 75, 3, 4]));
    expect(zip.status).toBe(400);
    expect(zip.body.message).toContain("application/zip");
    expect(filesUnder(join(dataDir, "files"))).toEqual(before);

    const badScope = await upload("a.txt", "text/plain", "x", t.key, "forever");
    expect(badScope.status).toBe(400);
    expect(badScope.body.message).toContain("scope");
    const notMultipart = await t.api("POST", "/api/v1/chats/upload-file", { file: "x" });
    expect(notMultipart.status).toBe(400);
  });

  it("passes attached text to the model in a chat, and lists the files with the message", async () => {
    const up = await upload("facts.md", "text/markdown", "# Facts\nThe capital of Atlantis is Poseidonia.");
    const chat = await newChat();
    const r = await say(chat.id, "What is the capital?", { attached_file_uuids: [up.body.data.uuid] });
    expect(r.status).toBe(200);
    expect(r.body.data).toContain("What is the capital?");
    expect(r.body.data).toContain("The capital of Atlantis is Poseidonia.");
    const messages = (await t.api("GET", `/api/v1/chats/${chat.id}/messages`)).body.data;
    expect(messages[0].attached_files).toEqual([
      expect.objectContaining({
        uuid: up.body.data.uuid,
        original_name: "facts.md",
        content_type: "text/markdown",
      }),
    ]);
    expect(messages[1].attached_files).toEqual([]);

    // Images go as image parts; the simulated model sees them as a marker.
    const png = await upload(
      "dot.png",
      "image/png",
      new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    );
    expect(png.status).toBe(201);
    const withImage = await say(chat.id, "Describe it", { attached_file_uuids: [png.body.data.uuid] });
    expect(withImage.body.data).toContain("Describe it\n[image]");

    const unknown = await say(chat.id, "x", { attached_file_uuids: ["no-such-file"] });
    expect(unknown.status).toBe(400);
    expect(unknown.body.message).toContain("attached_file_uuids");
  });

  it("passes attached text to the model in a batch request", async () => {
    const up = await upload("batch.txt", "text/plain", "Batch attachment: the answer is 42.");
    const bad = await t.api("POST", "/api/v1/batches", {
      agent_id: agentId,
      requests: [
        { custom_id: "ok", message: "m" },
        { custom_id: "bad", message: "m", attached_file_uuids: ["missing-file"] },
      ],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain("requests[1].attached_file_uuids");
    const created = await t.api("POST", "/api/v1/batches", {
      agent_id: agentId,
      requests: [{ custom_id: "with-file", message: "Read this", attached_file_uuids: [up.body.data.uuid] }],
    });
    expect(created.status).toBe(202);
    const done = await waitForBatch(t, created.body.data.id);
    expect(done.completed_requests).toBe(1);
    const result = (await t.api("GET", `/api/v1/batches/${done.id}/results`)).body.data[0];
    expect(result.response_content).toContain("Read this");
    expect(result.response_content).toContain("Batch attachment: the answer is 42.");
    const messages = (await t.api("GET", `/api/v1/chats/${result.history_id}/messages`)).body.data;
    expect(messages[0].attached_files.map((f: any) => f.uuid)).toEqual([up.body.data.uuid]);
  });

  it("keeps chats and files to their workspace", async () => {
    const otherKey = await t.newWorkspaceKey(`other-${crypto.randomUUID()}`);
    const chat = await newChat();
    await say(chat.id, "private");
    const up = await upload("private.txt", "text/plain", "private bytes");
    expect((await t.api("GET", `/api/v1/chats/${chat.id}/messages`, undefined, otherKey)).status).toBe(404);
    expect((await t.api("GET", `/api/v1/chats/${chat.id}`, undefined, otherKey)).status).toBe(404);
    expect((await t.api("PUT", `/api/v1/chats/${chat.id}`, { name: "mine" }, otherKey)).status).toBe(404);
    const send = await t.api("POST", `/api/v1/chats/${chat.id}/messages`, { message: "hi" }, otherKey);
    expect(send.status).toBe(404);
    expect(send.body.error_code).toBe(10003);
    const file = await fetch(up.body.data.file_url, { headers: { "x-api-key": otherKey } });
    expect(file.status).toBe(404);
    const list = await t.api("GET", "/api/v1/chats", undefined, otherKey);
    expect(list.body.data).toEqual([]);
    // Nor can another workspace attach the file.
    const otherAgent = await publishedAgent(t, {}, otherKey);
    const otherChat = await t.api("POST", "/api/v1/chats", { agent_id: otherAgent }, otherKey);
    const attach = await t.api(
      "POST",
      `/api/v1/chats/${otherChat.body.data.id}/messages`,
      { message: "x", stream: false, attached_file_uuids: [up.body.data.uuid] },
      otherKey,
    );
    expect(attach.status).toBe(400);
  });

  it("stores feedback on an answer and lists it with the message", async () => {
    const chat = await newChat({ external_user_id: "fan" });
    await say(chat.id, "rate me");
    const [question, answer] = (await t.api("GET", `/api/v1/chats/${chat.id}/messages`)).body.data;
    const url = `/api/v1/chats/${chat.id}/messages/${answer.id}/feedbacks`;
    const given = await t.api("POST", url, { rating: "helpful", comment: "spot on" });
    expect(given.status).toBe(201);
    expect(given.body.data).toMatchObject({
      message_id: answer.id,
      chat_id: chat.id,
      rating: "helpful",
      comment: "spot on",
      external_user_id: "fan",
    });
    await t.api("POST", url, { rating: "improve" });
    const messages = (await t.api("GET", `/api/v1/chats/${chat.id}/messages`)).body.data;
    expect(messages[1].feedbacks.map((f: any) => [f.rating, f.comment])).toEqual([
      ["helpful", "spot on"],
      ["improve", null],
    ]);
    expect(messages[0].feedbacks).toEqual([]);

    expect((await t.api("POST", url, { rating: "great" })).status).toBe(400);
    const long = await t.api("POST", url, { rating: "improve", comment: "x".repeat(2001) });
    expect(long.status).toBe(400);
    expect(long.body.message).toContain("comment");
    const onQuestion = await t.api("POST", `/api/v1/chats/${chat.id}/messages/${question.id}/feedbacks`, {
      rating: "helpful",
    });
    expect(onQuestion.status).toBe(400);
    const missing = await t.api("POST", `/api/v1/chats/${chat.id}/messages/99999999/feedbacks`, {
      rating: "helpful",
    });
    expect(missing.status).toBe(404);
  });

  it("continues a Chat API chat from a batch request's history_id", async () => {
    const chat = await newChat();
    await say(chat.id, "Remember the number seven");
    const created = await t.api("POST", "/api/v1/batches", {
      agent_id: agentId,
      requests: [{ custom_id: "follow-up", message: "Which number?", history_id: chat.id }],
    });
    expect(created.status).toBe(202);
    const done = await waitForBatch(t, created.body.data.id);
    const result = (await t.api("GET", `/api/v1/batches/${done.id}/results`)).body.data[0];
    expect(result.status).toBe("success");
    expect(result.response_content).toBe("Echo: Which number? (context: 2 earlier messages)");
    expect(result.history_id).toBe(chat.id);
    const messages = (await t.api("GET", `/api/v1/chats/${chat.id}/messages`)).body.data;
    expect(messages).toHaveLength(4);
    expect(messages[2]).toMatchObject({ role: "user", content: "Which number?", id: result.conversation_id });
    expect(messages[3]).toMatchObject({
      role: "assistant",
      group_id: result.conversation_id,
      content: result.response_content,
    });
    expect(messages[3].meta.token_usage.total_tokens).toBe(result.response_usage.total_tokens);
  });
});

describe("whitelist mode", () => {
  let t: TestServer;
  let agentId: string;

  beforeAll(async () => {
    t = await startTestServer();
    agentId = await publishedAgent(t);
  });
  afterAll(async () => t.close());

  it("lets only whitelisted external users chat or be named in batch requests", async () => {
    // Before it is on, anyone may chat.
    const early = await t.api("POST", "/api/v1/chats", { agent_id: agentId, external_user_id: "mallory" });
    expect(early.status).toBe(201);
    expect((await t.api("GET", "/api/v1/workspace/whitelist")).body.data).toEqual({
      enabled: false,
      total_users: 0,
    });

    const on = await t.api("PUT", "/api/v1/workspace/whitelist", { enabled: true });
    expect(on.body.data).toEqual({ enabled: true, total_users: 0 });
    const added = await t.api("POST", "/api/v1/workspace/whitelist/users", {
      external_user_ids: ["alice", "bob", "alice"],
    });
    expect(added.body.data).toMatchObject({ added: 2, enabled: true, total_users: 2 });
    const users = await t.api("GET", "/api/v1/workspace/whitelist/users");
    expect(users.body.data.map((u: any) => u.external_user_id).sort()).toEqual(["alice", "bob"]);
    expect(users.body.pagination.total_records).toBe(2);

    const anonymous = await t.api("POST", "/api/v1/chats", { agent_id: agentId });
    expect(anonymous.status).toBe(403);
    expect(anonymous.body.error_code).toBe(14103);
    expect(anonymous.body.message).toContain("external_user_id");
    const stranger = await t.api("POST", "/api/v1/chats", { agent_id: agentId, external_user_id: "mallory" });
    expect(stranger.status).toBe(403);
    expect(stranger.body.error_code).toBe(14103);
    const alice = await t.api("POST", "/api/v1/chats", { agent_id: agentId, external_user_id: "alice" });
    expect(alice.status).toBe(201);

    // Messages: the chat's external user must be on the list.
    const blocked = await t.api("POST", `/api/v1/chats/${early.body.data.id}/messages`, {
      message: "hi",
      stream: false,
    });
    expect(blocked.status).toBe(403);
    expect(blocked.body.error_code).toBe(14103);
    const allowed = await t.api("POST", `/api/v1/chats/${alice.body.data.id}/messages`, {
      message: "hi",
      stream: false,
    });
    expect(allowed.status).toBe(200);

    const batch = (requests: Record<string, unknown>[]) =>
      t.api("POST", "/api/v1/batches", { agent_id: agentId, requests });
    const noUser = await batch([
      { custom_id: "a", message: "m", external_user_id: "alice" },
      { custom_id: "b", message: "m" },
    ]);
    expect(noUser.status).toBe(403);
    expect(noUser.body.error_code).toBe(14103);
    expect(noUser.body.message).toContain("requests[1].external_user_id");
    const unlisted = await batch([{ custom_id: "a", message: "m", external_user_id: "mallory" }]);
    expect(unlisted.status).toBe(403);
    expect(unlisted.body.message).toContain("requests[0].external_user_id");
    const listed = await batch([
      { custom_id: "a", message: "m", external_user_id: "alice" },
      { custom_id: "b", message: "m", external_user_id: "bob" },
    ]);
    expect(listed.status).toBe(202);

    // Removing a user takes effect at once; so does switching the mode off.
    expect((await t.api("DELETE", "/api/v1/workspace/whitelist/users/bob")).status).toBe(200);
    expect((await t.api("DELETE", "/api/v1/workspace/whitelist/users/bob")).status).toBe(404);
    const bob = await t.api("POST", "/api/v1/chats", { agent_id: agentId, external_user_id: "bob" });
    expect(bob.status).toBe(403);
    await t.api("PUT", "/api/v1/workspace/whitelist", { enabled: false });
    const open = await t.api("POST", "/api/v1/chats", { agent_id: agentId });
    expect(open.status).toBe(201);
  });

  it("is per workspace", async () => {
    const otherKey = await t.newWorkspaceKey(`wl-other-${crypto.randomUUID()}`);
    await t.api("PUT", "/api/v1/workspace/whitelist", { enabled: true });
    const otherAgent = await publishedAgent(t, {}, otherKey);
    const r = await t.api("POST", "/api/v1/chats", { agent_id: otherAgent }, otherKey);
    expect(r.status).toBe(201);
    expect((await t.api("GET", "/api/v1/workspace/whitelist", undefined, otherKey)).body.data.enabled).toBe(
      false,
    );
    await t.api("PUT", "/api/v1/workspace/whitelist", { enabled: false });
  });
});
