import type { ServerResponse } from "node:http";

/**
 * The Server-Sent Events answer of `POST /chats/{id}/messages` in the Codeer frame format:
 * `event: <type>` then `data: <one-line JSON>` with `type`, `response_id` and `chat_id` in
 * every event, ending with `data: [DONE]`. Writes after the client went away are dropped: the
 * turn goes on and is stored, nobody is left to tell.
 */
export class ChatEventStream {
  private open = true;

  constructor(
    private readonly raw: ServerResponse,
    private readonly responseId: string,
    private readonly chatId: number,
  ) {
    raw.on("close", () => {
      this.open = false;
    });
    raw.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      connection: "keep-alive",
      // Proxies such as nginx would otherwise buffer the deltas into one late chunk.
      "x-accel-buffering": "no",
    });
    raw.flushHeaders();
  }

  /** True while the client is still connected. */
  get connected(): boolean {
    return this.open && !this.raw.writableEnded;
  }

  send(type: string, fields: Record<string, unknown> = {}): void {
    if (!this.connected) return;
    const data = JSON.stringify({ type, response_id: this.responseId, chat_id: this.chatId, ...fields });
    this.raw.write(`event: ${type}\ndata: ${data}\n\n`);
  }

  end(): void {
    if (!this.connected) return;
    this.raw.end("data: [DONE]\n\n");
  }
}
