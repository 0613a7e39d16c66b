import type { ApiPlugin, ApiRequest } from "../api-plugin.js";
import type { AppContext } from "../context.js";
import { notFound } from "../errors.js";
import { ResultParams } from "../schemas/batches.js";
import { ok } from "../wire/envelope.js";
import { stepToWire } from "../wire/steps.js";

const tags = ["Batches"];

const stepsSchema = {
  tags,
  summary: "The transcript of one request of an agent with tools: model replies, tool calls and results",
  params: ResultParams,
};

/** What agents that call tools add to the batch API: the transcript of a request's steps. */
export const agentToolRoutes: ApiPlugin = async (app, { ctx }) => {
  app.get("/batches/:id/results/:custom_id/steps", { schema: stepsSchema }, (request) =>
    getSteps(ctx, request),
  );
};

async function getSteps(ctx: AppContext, request: ApiRequest<typeof stepsSchema>) {
  const batch = await ctx.store.batches.get(request.workspace.id, request.params.id);
  if (!batch) throw notFound("Batch");
  const item = await ctx.store.items.getByCustomId(batch.id, request.params.custom_id);
  if (!item) throw notFound(`Request ${request.params.custom_id}`);
  const steps = await ctx.store.steps.list(item.id);
  return ok({
    batch_id: batch.id,
    custom_id: item.customId,
    status: item.status,
    steps: steps.map(stepToWire),
  });
}
