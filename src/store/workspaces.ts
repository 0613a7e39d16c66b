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

export interface WorkspaceStore {
  /** Returns the workspace of that name, creating it if needed. */
  ensure(name: string): Promise<Workspace>;
  get(workspaceId: string): Promise<Workspace | undefined>;
  /** Stores a key by its hash; an existing hash is left as it is. */
  addKey(workspaceId: string, keyHash: string, prefix: string): Promise<void>;
  findByKeyHash(keyHash: string): Promise<Workspace | undefined>;
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
