import { BATCH_STATUSES, type BatchStatus } from "../../domain/statuses.js";
import type { App } from "../app.js";
import { submitBatch } from "../batch-submit.js";
import type { AppContext } from "../context.js";
import { badRequest, conflict, notFound } from "../errors.js";
import { sendResultsExport } from "../results-export.js";
import {
  CreateBatchBody,
  IdempotencyHeaders,
  ListBatchesQuery,
  ListResultsQuery,
} from "../schemas/batches.js";
import { IdParams, OptionalBody } from "../schemas/common.js";
import { batchToWire, itemToWire } from "../wire/batches.js";
import { ok, okPage, pagination } from "../wire/envelope.js";

const tags = ["Batches"];

/** `status=in_progress,paused` (or repeated) → a checked list of statuses. */
export function parseStatusFilter(raw: string | undefined): BatchStatus[] | undefined {
  if (!raw) return undefined;
  const statuses = raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const s of statuses) {
    if (!(BATCH_STATUSES as readonly string[]).includes(s)) {
      throw badRequest(`status: "${s}" is not a batch status; use one of ${BATCH_STATUSES.join(", ")}`);
    }
  }
  return statuses as BatchStatus[];
}

export async function batchRoutes(app: App, ctx: AppContext): Promise<void> {
  app.post(
    "/batches",
    {
      schema: {
        tags,
        summary: "Create a batch",
        description:
          "Send `requests` (at most 1000) or `file_id` (an uploaded input file). An `Idempotency-Key` header (or a client-chosen `id`) makes a retried create return the same batch (header `idempotent-replayed: true`); the same key or id with a different body is 409.",
        body: CreateBatchBody,
        headers: IdempotencyHeaders,
      },
    },
    async (request, reply) => {
      const { batch, replayed } = await submitBatch(ctx, request.workspace, request.body, {
        idempotencyKey: request.headers["idempotency-key"],
      });
      if (replayed) reply.header("idempotent-replayed", "true");
      else request.log.info({ batch_id: batch.id, total: batch.total }, "batch created");
      return reply.code(202).send(ok(batchToWire(batch)));
    },
  );

  app.get(
    "/batches",
    { schema: { tags, summary: "List batches", querystring: ListBatchesQuery } },
    async (request) => {
      const { limit, offset, status } = request.query;
      const page = await ctx.store.listBatches(request.workspace.id, {
        limit,
        offset,
        statuses: parseStatusFilter(status),
      });
      return okPage(
        page.rows.map(batchToWire),
        pagination(request, page.total, limit, offset, ctx.config.publicUrl),
      );
    },
  );

  app.get("/batches/:id", { schema: { tags, summary: "Get a batch", params: IdParams } }, async (request) => {
    const batch = await ctx.store.getBatch(request.workspace.id, request.params.id);
    if (!batch) throw notFound("Batch");
    return ok(batchToWire(batch));
  });

  app.get(
    "/batches/:id/results",
    {
      schema: {
        tags,
        summary: "Get the results of a batch's requests",
        params: IdParams,
        querystring: ListResultsQuery,
      },
    },
    async (request, reply) => {
      const batch = await ctx.store.getBatch(request.workspace.id, request.params.id);
      if (!batch) throw notFound("Batch");
      const { limit, offset, status, format } = request.query;
      if (format) return sendResultsExport(ctx.store, reply, batch, format, status);
      const page = await ctx.store.listItems(batch.id, { limit, offset, status });
      return okPage(
        page.rows.map(itemToWire),
        pagination(request, page.total, limit, offset, ctx.config.publicUrl),
      );
    },
  );

  app.post(
    "/batches/:id/cancel",
    { schema: { tags, summary: "Cancel a batch", params: IdParams, body: OptionalBody } },
    async (request, reply) => {
      const result = await ctx.store.cancelBatch(request.workspace.id, request.params.id, Date.now());
      if (result.kind === "not_found") throw notFound("Batch");
      if (result.kind === "conflict") {
        throw conflict(
          `Batch ${result.batch.id} is ${result.batch.status}; only an in_progress or paused batch can be cancelled`,
        );
      }
      if (result.changed) {
        request.log.info({ batch_id: result.batch.id }, "batch cancelled");
        ctx.signals.notifyBatchChanged({ batchIds: [result.batch.id], transitions: result.transitions });
      }
      return reply.code(202).send(ok(batchToWire(result.batch)));
    },
  );
}
