import type { App } from "../app.js";
import type { AppContext } from "../context.js";
import { notFound } from "../errors.js";
import { PageQuery } from "../schemas/common.js";
import { WhitelistSettingsBody, WhitelistUserParams, WhitelistUsersBody } from "../schemas/whitelist.js";
import { ok, okPage, pagination } from "../wire/envelope.js";
import { whitelistUserToWire } from "../wire/whitelist.js";

const tags = ["Whitelist"];

/**
 * Whitelist mode of the caller's workspace (seed 001, error 14103): switch it on or off and
 * manage the external user ids allowed to chat and to be named in batch requests.
 */
export async function whitelistRoutes(app: App, ctx: AppContext): Promise<void> {
  const settings = async (workspaceId: string) => {
    const ws = await ctx.store.getWorkspace(workspaceId);
    if (!ws) throw notFound("Workspace");
    const users = await ctx.store.listWhitelistUsers(workspaceId, { limit: 1, offset: 0 });
    return { enabled: ws.whitelistEnabled, total_users: users.total };
  };

  app.get(
    "/workspace/whitelist",
    { schema: { tags, summary: "Whitelist mode of this workspace" } },
    async (request) => ok(await settings(request.workspace.id)),
  );

  app.put(
    "/workspace/whitelist",
    { schema: { tags, summary: "Turn whitelist mode on or off", body: WhitelistSettingsBody } },
    async (request) => {
      await ctx.store.setWhitelistEnabled(request.workspace.id, request.body.enabled);
      request.log.info({ enabled: request.body.enabled }, "whitelist mode changed");
      return ok(await settings(request.workspace.id));
    },
  );

  app.get(
    "/workspace/whitelist/users",
    { schema: { tags, summary: "Whitelisted external user ids", querystring: PageQuery } },
    async (request) => {
      const { limit, offset } = request.query;
      const page = await ctx.store.listWhitelistUsers(request.workspace.id, { limit, offset });
      return okPage(
        page.rows.map(whitelistUserToWire),
        pagination(request, page.total, limit, offset, ctx.config.publicUrl),
      );
    },
  );

  app.post(
    "/workspace/whitelist/users",
    { schema: { tags, summary: "Add external user ids to the whitelist", body: WhitelistUsersBody } },
    async (request) => {
      const added = await ctx.store.addWhitelistUsers(
        request.workspace.id,
        request.body.external_user_ids,
        Date.now(),
      );
      return ok({ added, ...(await settings(request.workspace.id)) });
    },
  );

  app.delete(
    "/workspace/whitelist/users/:externalUserId",
    {
      schema: { tags, summary: "Remove an external user id from the whitelist", params: WhitelistUserParams },
    },
    async (request) => {
      const removed = await ctx.store.removeWhitelistUser(
        request.workspace.id,
        request.params.externalUserId,
      );
      if (!removed) throw notFound("Whitelisted user");
      return ok({ external_user_id: request.params.externalUserId, removed: true });
    },
  );
}
