import { createParser } from "eventsource-parser";

/** One Server-Sent Event: its `event:` name and `id:` when the stream sent them, and its data. */
export interface SseEvent {
  event?: string;
  id?: string;
  data: string;
}

/**
 * Reads a Server-Sent Events byte stream to its end and yields its events, parsed by
 * eventsource-parser (CRLF, CR or LF line ends, multi-line data, comments, a BOM, UTF-8 split
 * across chunks). The one SSE reader of the providers (an undici body) and the dashboard (a
 * fetch body): it stays free of `node:` imports, since the dashboard bundles it.
 *
 * Two rules on top of the standard, which every reader here relies on: a last event whose
 * closing blank line never came still counts (an upstream that closes right after its final
 * `data:` line has said it), and an event with empty data is skipped (every consumer here
 * parses data as JSON, or as `[DONE]`).
 */
export async function* readSseEvents(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const events: SseEvent[] = [];
  const parser = createParser({
    onEvent: (event) => {
      if (event.data !== "") events.push(event);
    },
  });
  const decoder = new TextDecoder();
  for await (const chunk of chunks) {
    parser.feed(decoder.decode(chunk, { stream: true }));
    yield* events.splice(0);
  }
  parser.feed(`${decoder.decode()}\n\n`);
  yield* events.splice(0);
}
