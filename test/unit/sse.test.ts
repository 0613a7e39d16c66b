import { describe, expect, it } from "vitest";
import { readSseEvents, type SseEvent } from "../../src/providers/sse.js";

async function* chunks(...parts: (string | Uint8Array)[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield typeof part === "string" ? new TextEncoder().encode(part) : part;
}

async function read(...parts: (string | Uint8Array)[]): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  for await (const event of readSseEvents(chunks(...parts))) events.push(event);
  return events;
}

describe("readSseEvents", () => {
  it("yields each event's data, name and id, across chunks cut anywhere", async () => {
    const events = await read("event: progress\nid: 7\nda", 'ta: {"a":1}\n', "\ndata: [DONE]\n\n");
    expect(events).toEqual([
      { event: "progress", id: "7", data: '{"a":1}' },
      { event: undefined, id: undefined, data: "[DONE]" },
    ]);
  });

  it("joins multi-line data, ignores comments and reads CRLF and CR line ends", async () => {
    const events = await read(
      ": keep-alive\r\ndata: one\r\ndata:two\r\n\r\n",
      "data: three\r\rdata: four\n\n",
    );
    expect(events.map((e) => e.data)).toEqual(["one\ntwo", "three", "four"]);
  });

  it("decodes UTF-8 split between chunks", async () => {
    const bytes = new TextEncoder().encode("data: héllo 👋\n\n");
    const events = await read(bytes.slice(0, 9), bytes.slice(9, 14), bytes.slice(14));
    expect(events.map((e) => e.data)).toEqual(["héllo 👋"]);
  });

  it("counts a last event whose closing blank line never came, with or without its newline", async () => {
    expect((await read("data: a\n\ndata: b")).map((e) => e.data)).toEqual(["a", "b"]);
    expect((await read("data: a\n\ndata: b\n")).map((e) => e.data)).toEqual(["a", "b"]);
  });

  it("skips events with empty data and reads an empty body as no events", async () => {
    expect(await read("data:\n\nevent: ping\n\ndata: x\n\n")).toEqual([
      { event: undefined, id: undefined, data: "x" },
    ]);
    expect(await read()).toEqual([]);
  });
});
