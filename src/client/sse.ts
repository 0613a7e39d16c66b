import type { BatchEvent } from "./types.js";

/**
 * Parses a Server-Sent Events stream into events (the `data:` lines of one event joined by
 * newlines and parsed as JSON when they are JSON). Comment lines (keepalives) are skipped.
 */
export async function* parseSse(body: ReadableStream<Uint8Array>): AsyncGenerator<BatchEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let event = "message";
  let id: string | null = null;
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let newline = buffer.search(/\r?\n/);
      while (newline >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(buffer[newline] === "\r" ? newline + 2 : newline + 1);
        newline = buffer.search(/\r?\n/);
        if (line === "") {
          if (data.length > 0) {
            const text = data.join("\n");
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              /* not JSON: keep the text */
            }
            yield { id, event, data: parsed };
          }
          event = "message";
          data = [];
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") data.push(value);
        else if (field === "event") event = value;
        else if (field === "id") id = value;
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}
