import { parseModelRef } from "../../providers/registry.js";
import type { App } from "../app.js";
import type { AppContext } from "../context.js";
import { badRequest, notFound } from "../errors.js";
import { CreateAgentBody, UpdateAgentBody } from "../schemas/agents.js";
import { IdParams, PageQuery } from "../schemas/common.js";
import { agentToWire } from "../wire/agents.js";
import { ok, okPage, pagination } from "../wire/envelope.js";

const tags = ["Agents"];

export async function agentRoutes(app: App, ctx: AppContext): Promise<void> {
  /** The model must name a configured provider, so that a typo fails here and not in every item. */
  const checkModel = (model: string) => {
    let provider: string;
    try {
      provider = parseModelRef(model).provider;
    } catch (err) {
      throw badRequest(`model: ${(err as Error).message}`);
    }
    if (!ctx.providers.has(provider)) {
      throw badRequest(
        `model: unknown provider "${provider}"; configured providers: ${Object.keys(ctx.config.providers).join(", ")}`,
      );
    }
  };

  app.post(
    "/agents",
    { schema: { tags, summary: "Create an agent", body: CreateAgentBody } },
    async (request, reply) => {
      const b = request.body;
      checkModel(b.model);
      const agent = await ctx.store.createAgent(
        {
          id: crypto.randomUUID(),
          workspaceId: request.workspace.id,
          name: b.name,
          description: b.description ?? null,
          model: b.model,
          systemPrompt: b.system_prompt ?? null,
          temperature: b.temperature ?? null,
          maxTokens: b.max_tokens ?? null,
          settings: b.settings ?? {},
        },
        Date.now(),
      );
      return reply.code(201).send(ok(agentToWire(agent)));
    },
  );

  app.get(
    "/agents",
    { schema: { tags, summary: "List agents", querystring: PageQuery } },
    async (request) => {
      const { limit, offset } = request.query;
      const page = await ctx.store.listAgents(request.workspace.id, { limit, offset });
      return okPage(
        page.rows.map(agentToWire),
        pagination(request, page.total, limit, offset, ctx.config.publicUrl),
      );
    },
  );

  app.get("/agents/:id", { schema: { tags, summary: "Get an agent", params: IdParams } }, async (request) => {
    const agent = await ctx.store.getAgent(request.workspace.id, request.params.id);
    if (!agent) throw notFound("Agent");
    return ok(agentToWire(agent));
  });

  app.patch(
    "/agents/:id",
    {
      schema: {
        tags,
        summary: "Change an agent (publish again to use the change in new batches)",
        params: IdParams,
        body: UpdateAgentBody,
      },
    },
    async (request) => {
      const b = request.body;
      if (b.model !== undefined) checkModel(b.model);
      const agent = await ctx.store.updateAgent(
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
        },
        Date.now(),
      );
      if (!agent) throw notFound("Agent");
      return ok(agentToWire(agent));
    },
  );

  app.post(
    "/agents/:id/publish",
    { schema: { tags, summary: "Publish the agent's current config as a new version", params: IdParams } },
    async (request) => {
      const agent = await ctx.store.publishAgent(request.workspace.id, request.params.id, Date.now());
      if (!agent) throw notFound("Agent");
      return ok(agentToWire(agent));
    },
  );
}
