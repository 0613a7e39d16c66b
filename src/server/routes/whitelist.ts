import type { ApiPlugin, ApiRequest } from "../api-plugin.js";
import type { AppContext } from "../context.js";
import { notFound } from "../errors.js";
import { PageQuery } from "../schemas/common.js";
import { WhitelistSettingsBody, WhitelistUserParams, WhitelistUsersBody } from "../schemas/whitelist.js";
import { ok, pageAnswer } from "../wire/envelope.js";
import { whitelistUserToWire } from "../wire/whitelist.js";

const tags = ["Whitelist"];

const getSchema = { tags, summary: "Whitelist mode of this workspace" };
const setSchema = { tags, summary: "Turn whitelist mode on or off", body: WhitelistSettingsBody };
const listUsersSchema = { tags, summary: "Whitelisted external user ids", querystring: PageQuery };
const addUsersSchema = { tags, summary: "Add external user ids to the whitelist", body: WhitelistUsersBody };
const removeUserSchema = {
  tags,
  summary: "Remove an external user id from the whitelist",
  params: WhitelistUserParams,
};

/**
 * Whitelist mode of the caller's workspace (seed 001, error 14103): switch it on or off and
 * manage the external user ids allowed to chat and to be named in batch requests.
 */
export const whitelistRoutes: ApiPlugin = async (app, { ctx }) => {
  app.get("/workspace/whitelist", { schema: getSchema }, async (request) =>
    ok(await settings(ctx, request.workspace.id)),
  );
  app.put("/workspace/whitelist", { schema: setSchema }, (request) => setEnabled(ctx, request));
  app.get("/workspace/whitelist/users", { schema: listUsersSchema }, (request) => listUsers(ctx, request));
  app.post("/workspace/whitelist/users", { schema: addUsersSchema }, (request) => addUsers(ctx, request));
  app.delete("/workspace/whitelist/users/:externalUserId", { schema: removeUserSchema }, (request) =>
    removeUser(ctx, request),
  );
};

async function settings(ctx: AppContext, workspaceId: string) {
  const ws = await ctx.store.workspaces.get(workspaceId);
  if (!ws) throw notFound("Workspace");
  const users = await ctx.store.workspaces.listWhitelistUsers(workspaceId, { limit: 1, offset: 0 });
  return { enabled: ws.whitelistEnabled, total_users: users.total };
}

async function setEnabled(ctx: AppContext, request: ApiRequest<typeof setSchema>) {
  await ctx.store.workspaces.setWhitelistEnabled(request.workspace.id, request.body.enabled);
  request.log.info({ enabled: request.body.enabled }, "whitelist mode changed");
  return ok(await settings(ctx, request.workspace.id));
}

async function listUsers(ctx: AppContext, request: ApiRequest<typeof listUsersSchema>) {
  const { limit, offset } = request.query;
  const page = await ctx.store.workspaces.listWhitelistUsers(request.workspace.id, { limit, offset });
  return pageAnswer(request, page, whitelistUserToWire, ctx.config.publicUrl);
}

async function addUsers(ctx: AppContext, request: ApiRequest<typeof addUsersSchema>) {
  const added = await ctx.store.workspaces.addWhitelistUsers(
    request.workspace.id,
    request.body.external_user_ids,
    Date.now(),
  );
  return ok({ added, ...(await settings(ctx, request.workspace.id)) });
}

async function removeUser(ctx: AppContext, request: ApiRequest<typeof removeUserSchema>) {
  const removed = await ctx.store.workspaces.removeWhitelistUser(
    request.workspace.id,
    request.params.externalUserId,
  );
  if (!removed) throw notFound("Whitelisted user");
  return ok({ external_user_id: request.params.externalUserId, removed: true });
}
