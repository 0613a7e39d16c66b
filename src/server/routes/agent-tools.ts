import { MAX_TOOL_OUTPUT_BYTES } from "../../agents/tools/types.js";
import type { ApiPlugin, ApiRequest } from "../api-plugin.js";
import type { AppContext } from "../context.js";
import { badRequest, notFound } from "../errors.js";
import { ResultParams } from "../schemas/batches.js";
import { IdParams } from "../schemas/common.js";
import { ToolCallsQuery, ToolOutputsBody } from "../schemas/tool-calls.js";
import { ok, pageAnswer } from "../wire/envelope.js";
import { stepToWire } from "../wire/steps.js";
import { toolCallToWire, toolOutputsToWire } from "../wire/tool-calls.js";

const tags = ["Batches"];

const stepsSchema = {
  tags,
  summary: "The transcript of one request of an agent with tools: model replies, tool calls and results",
  params: ResultParams,
};
const toolCallsSchema = {
  tags,
  summary: "Client tool calls the batch's requests wait on (status awaiting_tool_calls)",
  params: IdParams,
  querystring: ToolCallsQuery,
};
const toolOutputsSchema = {
  tags,
  summary: "Answer client tool calls; a request resumes once all its calls are answered",
  params: IdParams,
  body: ToolOutputsBody,
};

/** What agents that call tools add to the batch API: transcripts, and client tool calls and outputs. */
export const agentToolRoutes: ApiPlugin = async (app, { ctx }) => {
  app.get("/batches/:id/results/:custom_id/steps", { schema: stepsSchema }, (request) =>
    getSteps(ctx, request),
  );
  app.get("/batches/:id/tool-calls", { schema: toolCallsSchema }, (request) => listToolCalls(ctx, request));
  app.post("/batches/:id/tool-outputs", { schema: toolOutputsSchema }, (request) =>
    submitOutputs(ctx, request),
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

async function listToolCalls(ctx: AppContext, request: ApiRequest<typeof toolCallsSchema>) {
  const batch = await ctx.store.batches.get(request.workspace.id, request.params.id);
  if (!batch) throw notFound("Batch");
  const { limit, offset } = request.query;
  const page = await ctx.store.toolCalls.listPending(batch.id, { limit, offset });
  return pageAnswer(request, page, toolCallToWire, ctx.config.publicUrl);
}

/** Each output as the text the model gets; one over the size limit refuses the whole request. */
export function outputTexts(outputs: { call_id: string; output: unknown }[]) {
  return outputs.map((o, i) => {
    if (o.output === undefined) throw badRequest(`outputs[${i}].output is required`);
    const text = typeof o.output === "string" ? o.output : JSON.stringify(o.output);
    if (Buffer.byteLength(text, "utf8") > MAX_TOOL_OUTPUT_BYTES) {
      throw badRequest(`outputs[${i}].output is larger than ${MAX_TOOL_OUTPUT_BYTES} bytes`);
    }
    return { callId: o.call_id, output: text };
  });
}

async function submitOutputs(ctx: AppContext, request: ApiRequest<typeof toolOutputsSchema>) {
  const batch = await ctx.store.batches.get(request.workspace.id, request.params.id);
  if (!batch) throw notFound("Batch");
  const entries = outputTexts(request.body.outputs);
  const report = await ctx.store.toolCalls.submitOutputs(batch.id, entries, Date.now());
  if (report.resumed > 0) ctx.signals.notifyWork();
  return ok(toolOutputsToWire(batch.id, report));
}
