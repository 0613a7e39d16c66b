/**
 * A chat message to an agent with a client tool: the turn ends with the calls it waits on (a
 * `response.tool_calls.required` frame, or `data.status: "awaiting_tool_calls"`), and
 * `POST /chats/{id}/tool-outputs` continues it to an answer that uses the outputs, stored as the
 * chat's turn. A chat waiting on calls refuses a new message; bad outputs are refused by name.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentbatchClient } from "../../src/client/index.js";
import { publishedAgent, startTestServer, type TestServer } from "../helpers/server.js";

const CLIENT_TOOL = {
  type: "client",
  name: "ask_user",
  description: "Asks the user",
  parameters: { type: "object", properties: { question: { type: "string" } }, required: ["question"] },
};

let t: TestServer;
let agentId: string;
beforeAll(async () => {
  t = await startTestServer();
  agentId = await publishedAgent(t, { tools: [CLIENT_TOOL], max_steps: 3 });
});
afterAll(() => t?.close());

/** The stream's frames in order: event name and parsed data (`[DONE]` as null data). */
async function frames(res: Response): Promise<{ event: string | null; data: any }[]> {
  const text = await res.text();
  return text
    .split("\n\n")
    .filter((block) => block.trim())
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? null;
      const data = /^data: (.*)$/m.exec(block)?.[1] ?? "";
      return { event, data: data === "[DONE]" ? null : JSON.parse(data) };
    });
}

function post(path: string, body: unknown): Promise<Response> {
  return fetch(`${t.url}/api/v1${path}`, {
    method: "POST",
    headers: { "x-api-key": t.key, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

async function newChat(): Promise<number> {
  const chat = await t.api("POST", "/api/v1/chats", { agent_id: agentId, name: "client tools" });
  expect(chat.status, JSON.stringify(chat.body)).toBe(201);
  return chat.body.data.id;
}

describe("chat turns with client tools", () => {
  it("streams the required calls, then continues the turn with the outputs", async () => {
    const chatId = await newChat();
    const first = await frames(await post(`/chats/${chatId}/messages`, { message: "Plan my trip" }));
    expect(first.map((f) => f.event).at(-1)).toBeNull();
    const required = first.at(-2);
    expect(required?.event).toBe("response.tool_calls.required");
    expect(required?.data).toMatchObject({ type: "response.tool_calls.required", chat_id: chatId });
    expect(required?.data.calls).toHaveLength(1);
    const call = required?.data.calls[0];
    expect(call.tool).toBe("ask_user");
    expect(typeof call.arguments.question).toBe("string");
    expect(typeof call.call_id).toBe("string");
    // Nothing stored yet, and a new message waits for the outputs.
    expect((await t.api("GET", `/api/v1/chats/${chatId}/messages`)).body.data).toHaveLength(0);
    const busy = await t.api("POST", `/api/v1/chats/${chatId}/messages`, { message: "again", stream: false });
    expect(busy.status).toBe(409);
    expect(busy.body.message).toContain(call.call_id);

    const res = await post(`/chats/${chatId}/tool-outputs`, {
      outputs: [{ call_id: call.call_id, output: "Lisbon in May" }],
    });
    expect(res.status).toBe(200);
    const second = await frames(res);
    expect(second[0].event).toBe("response.created");
    const done = second.at(-2);
    expect(done?.event).toBe("response.output_text.completed");
    expect(done?.data.final_text).toContain("Lisbon in May");
    expect(done?.data.response_id).toBe(required?.data.response_id);
    // Both model calls of the turn count, the first one replayed from the stored steps.
    expect(done?.data.usage.total_calls).toBe(2);

    const messages = (await t.api("GET", `/api/v1/chats/${chatId}/messages`)).body.data;
    expect(messages).toHaveLength(2);
    expect(JSON.stringify(messages)).toContain("Plan my trip");
    expect(JSON.stringify(messages)).toContain("Lisbon in May");
    // The turn is done: outputs again are refused, a new message is accepted.
    const again = await t.api("POST", `/api/v1/chats/${chatId}/tool-outputs`, {
      outputs: [{ call_id: call.call_id, output: "x" }],
    });
    expect(again.status).toBe(409);
  });

  it("answers without streaming, and refuses unknown call ids and other workspaces", async () => {
    const chatId = await newChat();
    const first = await t.api("POST", `/api/v1/chats/${chatId}/messages`, {
      message: "Book a table",
      stream: false,
    });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body.data).toMatchObject({ status: "awaiting_tool_calls", chat_id: chatId });
    const [call] = first.body.data.calls;
    expect(call.tool).toBe("ask_user");

    const unknown = await t.api("POST", `/api/v1/chats/${chatId}/tool-outputs`, {
      outputs: [{ call_id: "call_nope", output: "x" }],
      stream: false,
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.message).toContain("call_nope");

    const otherKey = await t.newWorkspaceKey("other-chat-tools");
    const other = await t.api(
      "POST",
      `/api/v1/chats/${chatId}/tool-outputs`,
      { outputs: [{ call_id: call.call_id, output: "x" }], stream: false },
      otherKey,
    );
    expect(other.status).toBe(404);

    const done = await t.api("POST", `/api/v1/chats/${chatId}/tool-outputs`, {
      outputs: [{ call_id: call.call_id, output: { table: "7pm for two" } }],
      stream: false,
    });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body.data).toContain("7pm for two");
    const next = await t.api("POST", `/api/v1/chats/${chatId}/messages`, {
      message: "Thanks",
      stream: false,
    });
    expect(next.status).toBe(200);
  });
  it("stores one answer when two requests continue the same turn at once", async () => {
    const chatId = await newChat();
    const first = await t.api("POST", `/api/v1/chats/${chatId}/messages`, { message: "Race", stream: false });
    const [call] = first.body.data.calls;
    const send = (output: string) =>
      t.api("POST", `/api/v1/chats/${chatId}/tool-outputs`, {
        outputs: [{ call_id: call.call_id, output }],
        stream: false,
      });
    const answers = await Promise.all([send("one"), send("two")]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    const messages = (await t.api("GET", `/api/v1/chats/${chatId}/messages`)).body.data;
    expect(messages).toHaveLength(2);
  });
  it("needs every pending call answered in one request", async () => {
    const twoTools = await publishedAgent(t, {
      tools: [CLIENT_TOOL, { ...CLIENT_TOOL, name: "pick_date", description: "Picks a date" }],
    });
    const chat = await t.api("POST", "/api/v1/chats", { agent_id: twoTools, name: "two calls" });
    const chatId = chat.body.data.id;
    const first = await t.api("POST", `/api/v1/chats/${chatId}/messages`, {
      message: "Use ask_user and pick_date",
      stream: false,
    });
    const calls = first.body.data.calls;
    expect(calls.map((c: any) => c.tool).sort()).toEqual(["ask_user", "pick_date"]);
    const partial = await t.api("POST", `/api/v1/chats/${chatId}/tool-outputs`, {
      outputs: [{ call_id: calls[0].call_id, output: "x" }],
      stream: false,
    });
    expect(partial.status).toBe(400);
    expect(partial.body.message).toContain(calls[1].call_id);
    const twice = await t.api("POST", `/api/v1/chats/${chatId}/tool-outputs`, {
      outputs: [
        { call_id: calls[0].call_id, output: "x" },
        { call_id: calls[0].call_id, output: "y" },
      ],
      stream: false,
    });
    expect(twice.status).toBe(400);
    const done = await t.api("POST", `/api/v1/chats/${chatId}/tool-outputs`, {
      outputs: calls.map((c: any) => ({ call_id: c.call_id, output: `out-${c.tool}` })),
      stream: false,
    });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body.data).toContain("out-ask_user");
    expect(done.body.data).toContain("out-pick_date");
  });
  it("cancels a waiting turn with {cancel: true}: nothing stored, and the next message works", async () => {
    const chatId = await newChat();
    const first = await t.api("POST", `/api/v1/chats/${chatId}/messages`, {
      message: "Plan it",
      stream: false,
    });
    expect(first.body.data.status).toBe("awaiting_tool_calls");
    const [call] = first.body.data.calls;
    const both = await t.api("POST", `/api/v1/chats/${chatId}/tool-outputs`, {
      cancel: true,
      outputs: [{ call_id: call.call_id, output: "x" }],
    });
    expect(both.status).toBe(400);
    expect(both.body.message).toContain("cancel");
    const none = await t.api("POST", `/api/v1/chats/${chatId}/tool-outputs`, {});
    expect(none.status).toBe(400);
    expect(none.body.message).toContain("outputs");
    const falseCancel = await t.api("POST", `/api/v1/chats/${chatId}/tool-outputs`, { cancel: false });
    expect(falseCancel.status).toBe(400);
    expect(falseCancel.body.message).toContain("cancel");

    const cancelled = await t.api("POST", `/api/v1/chats/${chatId}/tool-outputs`, { cancel: true });
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
    expect(cancelled.body.data).toEqual({
      status: "cancelled",
      response_id: first.body.data.response_id,
      chat_id: chatId,
      calls: first.body.data.calls,
    });
    // The turn is gone: its outputs and a second cancel find nothing to answer.
    const late = await t.api("POST", `/api/v1/chats/${chatId}/tool-outputs`, {
      outputs: [{ call_id: call.call_id, output: "x" }],
      stream: false,
    });
    expect(late.status).toBe(409);
    expect((await t.api("POST", `/api/v1/chats/${chatId}/tool-outputs`, { cancel: true })).status).toBe(409);
    expect((await t.api("GET", `/api/v1/chats/${chatId}/messages`)).body.data).toHaveLength(0);

    // The chat takes messages again (this one waits on the tool in turn, through the TS client).
    const client = new AgentbatchClient({ baseUrl: t.url, apiKey: t.key });
    const next = (await client.chats.send(chatId, { message: "Plan it again" })) as unknown as {
      status: string;
      calls: { call_id: string }[];
    };
    expect(next.status).toBe("awaiting_tool_calls");
    const viaClient = await client.chats.cancelToolCalls(chatId);
    expect(viaClient.calls.map((c) => c.call_id)).toEqual(next.calls.map((c) => c.call_id));
    const plain = await publishedAgent(t, {});
    const answer = await t.api("POST", `/api/v1/chats/${chatId}/messages`, {
      message: "Hello",
      agent_id: plain,
      stream: false,
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect((await t.api("GET", `/api/v1/chats/${chatId}/messages`)).body.data).toHaveLength(2);
  });
  it("continues a turn through the TS client", async () => {
    const client = new AgentbatchClient({ baseUrl: t.url, apiKey: t.key });
    const chatId = await newChat();
    const waiting = (await client.chats.send(chatId, { message: "Client turn" })) as unknown;
    const calls = (waiting as { calls: { call_id: string }[] }).calls;
    expect(calls).toHaveLength(1);
    const answer = await client.chats.submitToolOutputs(chatId, [
      { call_id: calls[0].call_id, output: "via client" },
    ]);
    expect(answer).toContain("via client");
  });
  it("drops a continued turn that fails for good, so the chat takes messages again", async () => {
    const strict = await publishedAgent(t, {
      tools: [CLIENT_TOOL],
      response_format: { type: "json_object" },
    });
    const chat = await t.api("POST", "/api/v1/chats", { agent_id: strict, name: "fails" });
    const chatId = chat.body.data.id;
    const first = await t.api("POST", `/api/v1/chats/${chatId}/messages`, {
      message: "Answer [invalid-json:always]",
      stream: false,
    });
    expect(first.body.data.status, JSON.stringify(first.body)).toBe("awaiting_tool_calls");
    const [call] = first.body.data.calls;
    const failed = await t.api("POST", `/api/v1/chats/${chatId}/tool-outputs`, {
      outputs: [{ call_id: call.call_id, output: "x" }],
      stream: false,
    });
    // The answer is never valid JSON: the turn fails with 422 and the validation errors.
    expect(failed.status, JSON.stringify(failed.body)).toBe(422);
    expect(failed.body.message).toContain("the answer is not valid JSON");
    const again = await t.api("POST", `/api/v1/chats/${chatId}/tool-outputs`, {
      outputs: [{ call_id: call.call_id, output: "x" }],
      stream: false,
    });
    expect(again.status).toBe(409);
    const next = await t.api("POST", `/api/v1/chats/${chatId}/messages`, { message: "Hello", stream: false });
    expect(next.status, JSON.stringify(next.body)).toBe(200);
  });
});
