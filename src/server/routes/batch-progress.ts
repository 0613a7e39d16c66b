import type { FastifyRequest } from "fastify";
import type { Batch } from "../../store/types.js";
import type { ApiPlugin, ApiReply, ApiRequest } from "../api-plugin.js";
import { finishedAt, isFinished, type ProgressEvent, watchBatch } from "../batch-watch.js";
import type { AppContext } from "../context.js";
import { notFound } from "../errors.js";
import { EventsQuery } from "../schemas/batches.js";
import { IdParams } from "../schemas/common.js";
import { type WebSocket, websocketRoute } from "../websocket.js";

const tags = ["Batches"];

const eventsSchema = {
  tags,
  summary: "Follow a batch's progress as Server-Sent Events",
  description:
    "Events: `snapshot` (the batch object, first), `progress` (the batch object, when counters or status change; at most a few per second), `done` (the finished batch; then the stream ends). Every event has an `id:`; reconnect with `Last-Event-ID` to resume (the first event is then `progress`). A client that already got `done` is answered 204.",
  params: IdParams,
  querystring: EventsQuery,
  produces: ["text/event-stream"],
};
const wsSchema = {
  tags,
  summary: "Follow a batch's progress over WebSocket",
  description:
    'Messages (JSON): `{"type":"snapshot","event_id","data":<batch>}` first (the catch-up), then `progress` on changes, `done` when the batch finishes (then the server closes with 1000), and `{"type":"keepalive"}` every 30 s. Authenticate with the x-api-key header or `?api_key=` (browsers). Closing the socket never cancels the batch.',
  params: IdParams,
  querystring: EventsQuery,
};

type WsParams = { id: string };
type WsQuery = { last_event_id?: number; api_key?: string };

/**
 * Live progress of one batch: Server-Sent Events (`/events`) and WebSocket (`/ws`). Both are
 * observers: closing them never changes the batch. See batch-watch.ts for the events.
 */
export const batchProgressRoutes: ApiPlugin = async (app, { ctx }) => {
  app.get("/batches/:id/events", { schema: eventsSchema }, (request, reply) =>
    streamEvents(ctx, request, reply),
  );
  websocketRoute<WsParams, WsQuery>(app, {
    url: "/batches/:id/ws",
    schema: wsSchema,
    // Runs before the upgrade, so an unknown batch is a plain 404.
    preHandler: async (request) => {
      await loadBatch(ctx, request.workspace.id, request.params.id);
    },
    handler: (socket, request) => followOverWebSocket(ctx, socket, request),
  });
};

async function loadBatch(ctx: AppContext, workspaceId: string, id: string): Promise<Batch> {
  const batch = await ctx.store.batches.get(workspaceId, id);
  if (!batch) throw notFound("Batch");
  return batch;
}

async function streamEvents(
  ctx: AppContext,
  request: ApiRequest<typeof eventsSchema>,
  reply: ApiReply<typeof eventsSchema>,
) {
  const batch = await loadBatch(ctx, request.workspace.id, request.params.id);
  const header = Number(request.headers["last-event-id"]);
  const lastEventId = Number.isFinite(header) && header > 0 ? header : request.query.last_event_id;
  if (lastEventId !== undefined && isFinished(batch) && lastEventId >= finishedAt(batch)) {
    // It saw the end already; 204 tells an EventSource not to reconnect.
    return reply.code(204).send();
  }
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache, no-transform",
    connection: "keep-alive",
    "x-accel-buffering": "no",
  });
  res.write(`retry: 2000\n\n`);
  const keepalive = setInterval(() => res.write(": keepalive\n\n"), ctx.config.progress.keepaliveMs);
  const stop = watchBatch(
    ctx,
    batch,
    lastEventId !== undefined,
    (e: ProgressEvent) => res.write(`id: ${e.id}\nevent: ${e.kind}\ndata: ${JSON.stringify(e.batch)}\n\n`),
    () => {
      clearInterval(keepalive);
      res.end();
    },
  );
  const unlisten = onClosing(ctx, () => {
    stop();
    clearInterval(keepalive);
    res.end();
  });
  res.on("close", () => {
    clearInterval(keepalive);
    unlisten();
    stop();
  });
}

/** Runs `end` when the service begins to stop (a client reconnects to another or the restarted node). */
function onClosing(ctx: AppContext, end: () => void): () => void {
  const signal = ctx.closing;
  if (!signal) return () => {};
  if (signal.aborted) {
    queueMicrotask(end);
    return () => {};
  }
  signal.addEventListener("abort", end, { once: true });
  return () => signal.removeEventListener("abort", end);
}

async function followOverWebSocket(
  ctx: AppContext,
  socket: WebSocket,
  request: FastifyRequest<{ Params: WsParams; Querystring: WsQuery }>,
) {
  const send = (message: unknown) => {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
  };
  const keepalive = setInterval(() => send({ type: "keepalive" }), ctx.config.progress.keepaliveMs);
  let stop: () => void = () => {};
  const unlisten = onClosing(ctx, () => socket.close(1001, "server shutting down"));
  socket.on("close", () => {
    clearInterval(keepalive);
    unlisten();
    stop();
  });
  // Messages from the client are ignored: the socket only observes.
  socket.on("message", () => {});
  try {
    const batch = await loadBatch(ctx, request.workspace.id, request.params.id);
    if (socket.readyState !== socket.OPEN) return;
    stop = watchBatch(
      ctx,
      batch,
      request.query.last_event_id !== undefined,
      (e) => send({ type: e.kind, event_id: e.id, data: e.batch }),
      () => {
        clearInterval(keepalive);
        socket.close(1000, "batch finished");
      },
    );
  } catch {
    clearInterval(keepalive);
    socket.close(1011, "batch not available");
  }
}
