import { ACTIVE_BATCH_STATUSES } from "../../domain/statuses.js";
import type { StateChangeResult } from "../../store/types.js";
import type { App } from "../app.js";
import type { AppContext } from "../context.js";
import { conflict, notFound } from "../errors.js";
import { ResultParams, StatusMapQuery } from "../schemas/batches.js";
import { IdParams, OptionalBody, PageQuery } from "../schemas/common.js";
import { batchToWire, itemToWire } from "../wire/batches.js";
import { ok, okPage, pagination } from "../wire/envelope.js";

const tags = ["Batches"];

/**
 * Seed 004's job control (pause, resume, the active list), retry of the failed requests of a
 * finished batch, one result by custom_id, and seed 002's status map.
 */
export async function batchControlRoutes(app: App, ctx: AppContext): Promise<void> {
  /** Maps a store state change to the answer; `conflictMessage` says why the status forbids it. */
  const answer = (
    result: StateChangeResult,
    conflictMessage: (status: string, id: string) => string,
    what: string,
    log: (msg: string, batchId: string) => void,
  ) => {
    if (result.kind === "not_found") throw notFound("Batch");
    if (result.kind === "conflict") throw conflict(conflictMessage(result.batch.status, result.batch.id));
    if (result.changed) {
      log(`batch ${what}`, result.batch.id);
      ctx.signals.notifyBatchChanged({ batchIds: [result.batch.id], transitions: result.transitions });
    }
    return ok(batchToWire(result.batch));
  };

  app.get(
    "/batches/active",
    {
      schema: {
        tags,
        summary: "List active batches (validating, in_progress, paused, cancelling)",
        querystring: PageQuery,
      },
    },
    async (request) => {
      const { limit, offset } = request.query;
      const page = await ctx.store.listBatches(request.workspace.id, {
        limit,
        offset,
        statuses: [...ACTIVE_BATCH_STATUSES],
      });
      return okPage(
        page.rows.map(batchToWire),
        pagination(request, page.total, limit, offset, ctx.config.publicUrl),
      );
    },
  );

  app.post(
    "/batches/:id/pause",
    {
      schema: {
        tags,
        summary: "Pause a batch: no new request starts; requests already running finish",
        params: IdParams,
        body: OptionalBody,
      },
    },
    async (request) =>
      answer(
        await ctx.store.pauseBatch(request.workspace.id, request.params.id, Date.now()),
        (status, id) => `Batch ${id} is ${status}; only an in_progress batch can be paused`,
        "paused",
        (msg, id) => request.log.info({ batch_id: id }, msg),
      ),
  );

  app.post(
    "/batches/:id/resume",
    {
      schema: {
        tags,
        summary: "Resume a paused batch",
        params: IdParams,
        body: OptionalBody,
      },
    },
    async (request) => {
      const result = await ctx.store.resumeBatch(request.workspace.id, request.params.id, Date.now());
      const response = answer(
        result,
        (status, id) => `Batch ${id} is ${status}; only a paused batch can be resumed`,
        "resumed",
        (msg, id) => request.log.info({ batch_id: id }, msg),
      );
      if (result.kind === "ok" && result.changed) ctx.signals.notifyWork();
      return response;
    },
  );

  app.post(
    "/batches/:id/retry",
    {
      schema: {
        tags,
        summary: "Run the failed requests of a finished batch again (successes are kept)",
        params: IdParams,
        body: OptionalBody,
      },
    },
    async (request, reply) => {
      const now = Date.now();
      const result = await ctx.store.retryFailedItems(
        request.workspace.id,
        request.params.id,
        now,
        now + ctx.config.engine.completionWindowMs,
      );
      const response = answer(
        result,
        (status, id) =>
          status === "completed" || status === "cancelled" || status === "failed"
            ? `Batch ${id} is ${status} and has no failed requests to retry`
            : `Batch ${id} is ${status}; only a completed, cancelled or failed batch can be retried`,
        "retried",
        (msg, id) => request.log.info({ batch_id: id }, msg),
      );
      ctx.signals.notifyWork();
      return reply.code(202).send(response);
    },
  );

  app.get(
    "/batches/:id/results/:custom_id",
    {
      schema: {
        tags,
        summary: "Get the result of one request by its custom_id",
        params: ResultParams,
      },
    },
    async (request) => {
      const batch = await ctx.store.getBatch(request.workspace.id, request.params.id);
      if (!batch) throw notFound("Batch");
      const item = await ctx.store.getItemByCustomId(batch.id, request.params.custom_id);
      if (!item) throw notFound(`Request ${request.params.custom_id}`);
      return ok(itemToWire(item));
    },
  );

  app.get(
    "/batches/:id/status-map",
    {
      schema: {
        tags,
        summary: "custom_ids grouped by request status (pending, processing, success, failed)",
        description:
          "`limit` and `offset` apply to each status list; `counts` has the full count of each status.",
        params: IdParams,
        querystring: StatusMapQuery,
      },
    },
    async (request) => {
      const batch = await ctx.store.getBatch(request.workspace.id, request.params.id);
      if (!batch) throw notFound("Batch");
      const { limit, offset } = request.query;
      const map = await ctx.store.statusMap(batch.id, { limit, offset });
      return ok({
        batch_id: batch.id,
        status: batch.status,
        counts: {
          pending: batch.pending,
          processing: batch.processing,
          success: batch.succeeded,
          failed: batch.failed,
        },
        limit,
        offset,
        ...map,
      });
    },
  );
}
