import type { Store } from "../store/types.js";
import { notWhitelisted } from "./errors.js";

/**
 * Whitelist mode (seed 001): when a workspace has it on, every chat, chat message and batch
 * request must name an `external_user_id` on the workspace's list, else 403/14103. The flag is
 * read fresh from the store, not from the key cache, so switching it takes effect at once.
 */
export async function whitelistEnabled(store: Store, workspaceId: string): Promise<boolean> {
  return (await store.workspaces.get(workspaceId))?.whitelistEnabled ?? false;
}

/** Throws 403/14103 naming `field` unless the user may talk to the workspace's agents. */
export async function assertWhitelisted(
  store: Store,
  workspaceId: string,
  externalUserId: string | null | undefined,
  field: string,
): Promise<void> {
  if (!(await whitelistEnabled(store, workspaceId))) return;
  if (!externalUserId) {
    throw notWhitelisted(`${field} is required: this workspace is in whitelist mode`);
  }
  const allowed = await store.workspaces.whitelistedAmong(workspaceId, [externalUserId]);
  if (!allowed.has(externalUserId)) {
    throw notWhitelisted(`${field}: "${externalUserId}" is not on this workspace's whitelist`);
  }
}

/** The batch form: checks every request, naming the first one that fails (`requests[i].external_user_id`). */
export async function assertRequestsWhitelisted(
  store: Store,
  workspaceId: string,
  requests: { external_user_id?: string | null }[],
): Promise<void> {
  if (!(await whitelistEnabled(store, workspaceId))) return;
  const ids = requests.map((r) => r.external_user_id).filter((id): id is string => Boolean(id));
  const allowed = await store.workspaces.whitelistedAmong(workspaceId, ids);
  requests.forEach((r, i) => {
    const field = `requests[${i}].external_user_id`;
    if (!r.external_user_id) {
      throw notWhitelisted(`${field} is required: this workspace is in whitelist mode`);
    }
    if (!allowed.has(r.external_user_id)) {
      throw notWhitelisted(`${field}: "${r.external_user_id}" is not on this workspace's whitelist`);
    }
  });
}
