/**
 * A streamed chat message to an agent with an http tool: the SSE answer carries a
 * `response.tool_call.started` and a `response.tool_call.completed` frame per tool call, after
 * the turn's start and before the final text, ids matching the call the tool receiver got.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { publishedAgent, type TestServer } from "../helpers/server.js";
import { type ServerWithTools, startServerWithTools, type ToolReceiver } from "../helpers/tool-receiver.js";

let server: ServerWithTools;
let t: TestServer;
let receiver: ToolReceiver;

beforeAll(async () => {
  server = await startServerWithTools();
  ({ t, receiver } = server);
});
afterAll(async () => server?.close());

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

it("streams tool call started / completed frames between the text deltas", async () => {
  const agentId = await publishedAgent(t, {
    tools: [
      {
        type: "http",
        name: "lookup",
        parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
        url: receiver.url,
        secret: "tool-secret",
      },
    ],
    max_steps: 3,
  });
  const chat = await t.api("POST", "/api/v1/chats", { agent_id: agentId, name: "stream tools" });
  expect(chat.status, JSON.stringify(chat.body)).toBe(201);
  const chatId = chat.body.data.id;
  const res = await fetch(`${t.url}/api/v1/chats/${chatId}/messages`, {
    method: "POST",
    headers: { "x-api-key": t.key, "content-type": "application/json" },
    body: JSON.stringify({ message: "Weather in Oslo" }),
  });
  expect(res.status).toBe(200);
  const all = await frames(res);
  const names = all.map((f) => f.event);
  expect(names[0]).toBe("response.created");
  expect(names.at(-2)).toBe("response.output_text.completed");
  expect(names.at(-1)).toBeNull();
  // Two model calls (the tool call, then the answer) and the tokens of both.
  expect(all.at(-2)?.data.usage.total_calls).toBe(2);

  const started = all.filter((f) => f.event === "response.tool_call.started");
  const completed = all.filter((f) => f.event === "response.tool_call.completed");
  expect(started).toHaveLength(1);
  expect(completed).toHaveLength(1);
  const call = receiver.calls.at(-1);
  expect(call?.body.chat_id).toBe(chatId);
  expect(started[0].data).toMatchObject({
    type: "response.tool_call.started",
    chat_id: chatId,
    call_id: call?.callId,
    tool: "lookup",
    arguments: call?.body.arguments,
  });
  expect(typeof started[0].data.response_id).toBe("string");
  expect(completed[0].data).toMatchObject({
    type: "response.tool_call.completed",
    call_id: call?.callId,
    tool: "lookup",
    ok: true,
  });
  expect(completed[0].data.duration_ms).toBeGreaterThanOrEqual(0);
  expect(names.indexOf("response.tool_call.started")).toBeLessThan(
    names.indexOf("response.tool_call.completed"),
  );
  // The final answer's text deltas come after the tool call finished.
  const lastDelta = names.lastIndexOf("response.output_text.delta");
  expect(lastDelta).toBeGreaterThan(names.indexOf("response.tool_call.completed"));
  const final = all.at(-2)?.data;
  expect(final.final_text).toContain("Tool results:");
});
