/** How whitelisted users look on the wire. */
import { iso } from "../../domain/time.js";
import type { WhitelistEntry } from "../../store/types.js";

export function whitelistUserToWire(u: WhitelistEntry) {
  return { external_user_id: u.externalUserId, created_at: iso(u.createdAt) };
}
