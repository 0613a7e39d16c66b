import { agentSettingsError } from "../../agents/agent-settings.js";
import { listAgentMcpTools } from "../../agents/tools/mcp-agent.js";
import { parseTools, ToolDefinitionError } from "../../agents/tools/validate.js";
import { newUuid } from "../../domain/ids.js";
import { parseModelRef } from "../../providers/registry.js";
import type { ApiPlugin, ApiReply, ApiRequest } from "../api-plugin.js";
import type { AppContext } from "../context.js";
import { badRequest, notFound } from "../errors.js";
import { responseFormatFromWire } from "../response-format.js";
import { CreateAgentBody, UpdateAgentBody } from "../schemas/agents.js";
import { IdParams, PageQuery } from "../schemas/common.js";
import { agentToWire } from "../wire/agents.js";
import { ok, pageAnswer } from "../wire/envelope.js";

const tags = ["Agents"];

const createSchema = { tags, summary: "Create an agent", body: CreateAgentBody };
const listSchema = { tags, summary: "List agents", querystring: PageQuery };
const getSchema = { tags, summary: "Get an agent", params: IdParams };
const updateSchema = {
  tags,
  summary: "Change an agent (publish again to use the change in new batches)",
  params: IdParams,
  body: UpdateAgentBody,
};
const publishSchema = {
  tags,
  summary: "Publish the agent's current config as a new version",
  params: IdParams,
};

export const agentRoutes: ApiPlugin = async (app, { ctx }) => {
  app.post("/agents", { schema: createSchema }, (request, reply) => createAgent(ctx, request, reply));
  app.get("/agents", { schema: listSchema }, (request) => listAgents(ctx, request));
  app.get("/agents/:id", { schema: getSchema }, (request) => getAgent(ctx, request));
  app.patch("/agents/:id", { schema: updateSchema }, (request) => updateAgent(ctx, request));
  app.post("/agents/:id/publish", { schema: publishSchema }, (request) => publishAgent(ctx, request));
};

/**
 * The model must name a configured provider, so that a typo fails here and not in every item;
 * and that provider must honour every key of the agent's `settings` (400 naming it).
 */
function checkModel(ctx: AppContext, model: string, settings: Record<string, unknown>): void {
  let provider: string;
  try {
    provider = parseModelRef(model).provider;
  } catch (err) {
    throw badRequest(`model: ${(err as Error).message}`);
  }
  const capabilities = ctx.providers.capabilities(provider);
  if (!capabilities) {
    throw badRequest(
      `model: unknown provider "${provider}"; configured providers: ${Object.keys(ctx.config.providers).join(", ")}`,
    );
  }
  const refused = agentSettingsError(settings, provider, capabilities);
  if (refused) throw badRequest(refused);
}

/**
 * The agent's tools, checked, with each MCP server's tools listed (the published version keeps
 * the list); a bad definition or a server that cannot list its tools is a 400 naming the field.
 */
async function checkTools(ctx: AppContext, raw: unknown[] | undefined) {
  if (raw === undefined) return undefined;
  const { trustedOrigins } = ctx.config.tools;
  try {
    const tools = parseTools(raw, { trustedOrigins });
    if (!tools.some((t) => t.type === "mcp")) return tools;
    return await listAgentMcpTools(tools, {
      trustedOrigins,
      allowPrivateTargets: ctx.config.webhooks.allowPrivateTargets,
    });
  } catch (err) {
    if (err instanceof ToolDefinitionError) throw badRequest(err.message);
    throw err;
  }
}

async function createAgent(
  ctx: AppContext,
  request: ApiRequest<typeof createSchema>,
  reply: ApiReply<typeof createSchema>,
) {
  const b = request.body;
  checkModel(ctx, b.model, b.settings ?? {});
  const agent = await ctx.store.agents.create(
    {
      id: newUuid(),
      workspaceId: request.workspace.id,
      name: b.name,
      description: b.description ?? null,
      model: b.model,
      systemPrompt: b.system_prompt ?? null,
      temperature: b.temperature ?? null,
      maxTokens: b.max_tokens ?? null,
      settings: b.settings ?? {},
      tools: (await checkTools(ctx, b.tools)) ?? [],
      maxSteps: b.max_steps ?? 10,
      responseFormat: responseFormatFromWire(b.response_format) ?? null,
    },
    Date.now(),
  );
  return reply.code(201).send(ok(agentToWire(agent)));
}

async function listAgents(ctx: AppContext, request: ApiRequest<typeof listSchema>) {
  const { limit, offset } = request.query;
  const page = await ctx.store.agents.list(request.workspace.id, { limit, offset });
  return pageAnswer(request, page, agentToWire, ctx.config.publicUrl);
}

async function getAgent(ctx: AppContext, request: ApiRequest<typeof getSchema>) {
  const agent = await ctx.store.agents.get(request.workspace.id, request.params.id);
  if (!agent) throw notFound("Agent");
  return ok(agentToWire(agent));
}

async function updateAgent(ctx: AppContext, request: ApiRequest<typeof updateSchema>) {
  const b = request.body;
  if (b.model !== undefined || b.settings !== undefined) {
    // The changed model or settings are checked together with the other one as it stands.
    const current = await ctx.store.agents.get(request.workspace.id, request.params.id);
    if (!current) throw notFound("Agent");
    checkModel(ctx, b.model ?? current.model, b.settings ?? current.settings);
  }
  const agent = await ctx.store.agents.update(
    request.workspace.id,
    request.params.id,
    {
      name: b.name,
      description: b.description,
      model: b.model,
      systemPrompt: b.system_prompt,
      temperature: b.temperature,
      maxTokens: b.max_tokens,
      settings: b.settings,
      tools: await checkTools(ctx, b.tools),
      maxSteps: b.max_steps,
      responseFormat: responseFormatFromWire(b.response_format),
    },
    Date.now(),
  );
  if (!agent) throw notFound("Agent");
  return ok(agentToWire(agent));
}

async function publishAgent(ctx: AppContext, request: ApiRequest<typeof publishSchema>) {
  const agent = await ctx.store.agents.publish(request.workspace.id, request.params.id, Date.now());
  if (!agent) throw notFound("Agent");
  return ok(agentToWire(agent));
}
