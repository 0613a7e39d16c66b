import { createHash, randomBytes } from "node:crypto";
import type { Store, Workspace } from "../store/types.js";

/** Keys are stored as their SHA-256: a stolen database does not give working keys. */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/** A new key: `ab_` and 32 random bytes, base64url. */
export function generateApiKey(): string {
  return `ab_${randomBytes(32).toString("base64url")}`;
}

export function keyPrefix(key: string): string {
  return key.slice(0, 7);
}

/** Registers a key for a workspace (creating the workspace by name if needed). */
export async function registerApiKey(
  store: Store,
  key: string,
  workspaceName = "default",
): Promise<Workspace> {
  const ws = await store.workspaces.ensure(workspaceName);
  await store.workspaces.addKey(ws.id, hashApiKey(key), keyPrefix(key));
  return ws;
}

/** The shortest AGENTBATCH_API_KEY accepted: a key must be unguessable. */
export const MIN_ENV_KEY_CHARS = 24;

/**
 * The AGENTBATCH_API_KEY of a server start: refused when short or revoked; registered for the
 * default workspace as the `env` key, revoking the previous env key when it has changed (so a
 * rotated key stops working everywhere). Returns how many older env keys were revoked.
 */
export async function registerEnvKey(store: Store, key: string, now = Date.now()): Promise<number> {
  if (key.length < MIN_ENV_KEY_CHARS) {
    throw new Error(
      `AGENTBATCH_API_KEY is too short (${key.length} characters): use at least ${MIN_ENV_KEY_CHARS} random characters, e.g. one printed by \`agentbatch keys create\``,
    );
  }
  const hash = hashApiKey(key);
  if ((await store.workspaces.keyState(hash)) === "revoked") {
    throw new Error(
      "AGENTBATCH_API_KEY was revoked (agentbatch keys revoke); set a new key, e.g. one printed by `agentbatch keys create`",
    );
  }
  const ws = await store.workspaces.ensure("default");
  await store.workspaces.addKey(ws.id, hash, keyPrefix(key), "env");
  return store.workspaces.revokeOtherKeysOf("env", hash, now);
}

/**
 * Resolves keys to workspaces with a short cache, so that a busy client does not cost one
 * database read per request. Unknown keys are not cached: a key created a moment ago works; a
 * revoked key stops working within the cache period.
 */
export class KeyResolver {
  private readonly cache = new Map<string, { ws: Workspace; at: number }>();

  constructor(
    private readonly store: Store,
    private readonly ttlMs = 30_000,
  ) {}

  async resolve(key: string): Promise<Workspace | undefined> {
    const hash = hashApiKey(key);
    const hit = this.cache.get(hash);
    const now = Date.now();
    if (hit && now - hit.at < this.ttlMs) return hit.ws;
    const ws = await this.store.workspaces.findByKeyHash(hash);
    if (ws) {
      // Last use, recorded once per cache period rather than per request; never fails a request.
      this.store.workspaces.touchKey(hash, now).catch(() => {});
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(hash, { ws, at: now });
    } else {
      this.cache.delete(hash);
    }
    return ws;
  }
}

/** The key from `x-api-key`, or from `Authorization: Bearer <key>`. */
export function keyFromHeaders(headers: Record<string, string | string[] | undefined>): string | undefined {
  const direct = headers["x-api-key"];
  if (typeof direct === "string" && direct.length > 0) return direct;
  const auth = headers.authorization;
  if (typeof auth === "string") {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m) return m[1];
  }
  return undefined;
}

/**
 * The workspace of the caller's key, for each API's authentication hook: `missing` is thrown
 * without a key and `invalid` for a key no workspace has, each in that API's error shape.
 */
export async function workspaceOf(
  keys: KeyResolver,
  key: string | undefined,
  errors: { missing: () => Error; invalid: () => Error },
): Promise<Workspace> {
  if (!key) throw errors.missing();
  const ws = await keys.resolve(key);
  if (!ws) throw errors.invalid();
  return ws;
}
