/** Workspaces, their API keys (stored hashed) and their whitelist of external users. */
import type { Page, PageQuery } from "./page.js";

export interface Workspace {
  id: string;
  name: string;
  whitelistEnabled: boolean;
  createdAt: number;
}

export interface WhitelistEntry {
  externalUserId: string;
  createdAt: number;
}

/** An API key as listed: never the key, only its hash's first characters as an id and its prefix. */
export interface ApiKeyInfo {
  /** The first 16 hex characters of the key's SHA-256 (what `keys revoke` takes). */
  id: string;
  workspaceId: string;
  workspaceName: string;
  /** The key's first characters (`ab_Xy1`), to recognise it. */
  prefix: string;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
  /** `env` for the AGENTBATCH_API_KEY of a server start, null for keys created otherwise. */
  source: string | null;
}

export type KeyState = "active" | "revoked" | "unknown";

/** What revoking by id found: the key, no key, or more than one key starting so. */
export type RevokeResult = "revoked" | "not_found" | "ambiguous";

export interface WorkspaceStore {
  /** Returns the workspace of that name, creating it if needed. */
  ensure(name: string): Promise<Workspace>;
  get(workspaceId: string): Promise<Workspace | undefined>;
  /** Stores a key by its hash; an existing hash is left as it is (a revoked key stays revoked). */
  addKey(workspaceId: string, keyHash: string, prefix: string, source?: string | null): Promise<void>;
  /** The workspace of an active (not revoked) key. */
  findByKeyHash(keyHash: string): Promise<Workspace | undefined>;
  keyState(keyHash: string): Promise<KeyState>;
  /** Every key, oldest first, revoked ones included. */
  listKeys(): Promise<ApiKeyInfo[]>;
  /** Revokes the one key whose hash starts with `id` (at least 8 hex characters). */
  revokeKey(id: string, now: number): Promise<RevokeResult>;
  /** Revokes the active keys of `source` other than `keepHash`; returns how many. */
  revokeOtherKeysOf(source: string, keepHash: string, now: number): Promise<number>;
  /** Records a use of the key (called at most once per key cache period, not per request). */
  touchKey(keyHash: string, now: number): Promise<void>;
  setWhitelistEnabled(workspaceId: string, enabled: boolean): Promise<Workspace | undefined>;
  /** Adds users to the whitelist; returns how many were not on it yet. */
  addWhitelistUsers(workspaceId: string, externalUserIds: string[], now: number): Promise<number>;
  /** Returns false when the user was not on the whitelist. */
  removeWhitelistUser(workspaceId: string, externalUserId: string): Promise<boolean>;
  /** Whitelisted users, in the order they were added. */
  listWhitelistUsers(workspaceId: string, page: PageQuery): Promise<Page<WhitelistEntry>>;
  /** Those of `externalUserIds` that are on the workspace's whitelist. */
  whitelistedAmong(workspaceId: string, externalUserIds: string[]): Promise<Set<string>>;
}
