/**
 * Live progress: SSE and WebSocket clients get the current state first, then progress events as
 * the batch runs, and a final `done`; frames are read as they arrive.
 */
import { WebSocket } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishedAgent, startTestServer, type TestServer, waitFor } from "../helpers/server.js";

const reqs = (n: number) => Array.from({ length: n }, (_, i) => ({ custom_id: `r-${i}`, message: `Q ${i}` }));

interface SseEvent {
  id: string;
  event: string;
  data: any;
}

/** Reads an SSE response frame by frame until it ends. */
async function* sseEvents(res: Response): AsyncIterable<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let end = buffer.indexOf("\n\n"); end !== -1; end = buffer.indexOf("\n\n")) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields: Record<string, string> = {};
      for (const line of frame.split("\n")) {
        const at = line.indexOf(": ");
        if (at > 0) fields[line.slice(0, at)] = line.slice(at + 2);
      }
      if (fields.event) yield { id: fields.id, event: fields.event, data: JSON.parse(fields.data) };
    }
  }
}

describe("live progress", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer((c) => {
      c.engine.concurrency = 4;
      c.engine.claimBatchSize = 4;
      c.progress.keepaliveMs = 100;
      c.progress.minIntervalMs = 50;
    });
  });
  afterAll(async () => t.close());

  it("SSE: snapshot, progress to completion, done; resumable with Last-Event-ID", async () => {
    const agent = await publishedAgent(t, { model: "simulated/echo?latency_ms=50" });
    const created = await t.api("POST", "/api/v1/batches", { agent_id: agent, requests: reqs(40) });
    const id = created.body.data.id;
    const res = await fetch(`${t.url}/api/v1/batches/${id}/events`, { headers: { "x-api-key": t.key } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const events: SseEvent[] = [];
    for await (const e of sseEvents(res)) events.push(e);
    expect(events[0].event).toBe("snapshot");
    expect(events[0].data.id).toBe(id);
    const last = events[events.length - 1];
    expect(last.event).toBe("done");
    expect(last.data).toMatchObject({ status: "completed", completed_requests: 40, progress: 1 });
    const progress = events.filter((e) => e.event === "progress");
    expect(progress.length).toBeGreaterThan(0);
    // Ids increase; progress never goes back.
    const ids = events.map((e) => Number(e.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    const done = events.map((e) => e.data.completed_requests);
    expect(done).toEqual([...done].sort((a, b) => a - b));

    // A client that saw `done` and reconnects is told to stop (204).
    const again = await fetch(`${t.url}/api/v1/batches/${id}/events`, {
      headers: { "x-api-key": t.key, "last-event-id": last.id },
    });
    expect(again.status).toBe(204);
    // One that resumes from before the end gets the current state and done.
    const resumed = await fetch(`${t.url}/api/v1/batches/${id}/events`, {
      headers: { "x-api-key": t.key, "last-event-id": events[0].id },
    });
    const tail: SseEvent[] = [];
    for await (const e of sseEvents(resumed)) tail.push(e);
    expect(tail.map((e) => e.event)).toEqual(["progress", "done"]);

    const missing = await fetch(`${t.url}/api/v1/batches/nope/events`, { headers: { "x-api-key": t.key } });
    expect(missing.status).toBe(404);
    const noKey = await fetch(`${t.url}/api/v1/batches/${id}/events`);
    expect(noKey.status).toBe(400);
  });

  it("WebSocket: catch-up first, progress, keepalive, done and close; closing never cancels", async () => {
    const agent = await publishedAgent(t, { model: "simulated/echo?latency_ms=50" });
    const created = await t.api("POST", "/api/v1/batches", { agent_id: agent, requests: reqs(40) });
    const id = created.body.data.id;
    const wsUrl = `${t.url.replace("http", "ws")}/api/v1/batches/${id}/ws?api_key=${encodeURIComponent(t.key)}`;
    const messages: any[] = [];
    const closed = await new Promise<{ code: number }>((resolve, reject) => {
      const ws = new WebSocket(wsUrl);
      ws.onmessage = (m) => messages.push(JSON.parse(String(m.data)));
      ws.onclose = (e) => resolve({ code: e.code });
      ws.onerror = () => reject(new Error("websocket error"));
    });
    expect(closed.code).toBe(1000);
    expect(messages[0]).toMatchObject({ type: "snapshot", data: { id } });
    const last = messages[messages.length - 1];
    expect(last).toMatchObject({ type: "done", data: { status: "completed", completed_requests: 40 } });
    expect(messages.some((m) => m.type === "progress")).toBe(true);
    expect(messages.some((m) => m.type === "keepalive")).toBe(true);

    // An observer that closes early changes nothing.
    const slow = await publishedAgent(t, { model: "simulated/echo?latency_ms=200" });
    const second = await t.api("POST", "/api/v1/batches", { agent_id: slow, requests: reqs(8) });
    const first = await new Promise<any>((resolve, reject) => {
      const ws = new WebSocket(`${t.url.replace("http", "ws")}/api/v1/batches/${second.body.data.id}/ws`, {
        headers: { "x-api-key": t.key },
      } as any);
      ws.onmessage = (m) => {
        resolve(JSON.parse(String(m.data)));
        ws.close();
      };
      ws.onerror = () => reject(new Error("websocket error"));
    });
    expect(first.type).toBe("snapshot");
    const finished = await waitFor(
      async () => {
        const b = (await t.api("GET", `/api/v1/batches/${second.body.data.id}`)).body.data;
        return b.status === "completed" ? b : null;
      },
      { what: "the observed batch to complete" },
    );
    expect(finished.completed_requests).toBe(8);
  });
});
