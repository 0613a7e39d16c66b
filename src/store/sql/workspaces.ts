import type { Page, PageQuery } from "../page.js";
import type {
  ApiKeyInfo,
  KeyState,
  RevokeResult,
  WhitelistEntry,
  Workspace,
  WorkspaceStore,
} from "../workspaces.js";
import { marks, type Row, type SqlDriver, statementGroups } from "./driver.js";
import { n, toWorkspace } from "./rows.js";
/** Workspaces, API keys (by hash) and the whitelist. */
export class SqlWorkspaceStore implements WorkspaceStore {
  constructor(private readonly db: SqlDriver) {}

  async ensure(name: string): Promise<Workspace> {
    await this.db.run(
      "INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
      [crypto.randomUUID(), name, Date.now()],
    );
    return toWorkspace((await this.db.get("SELECT * FROM workspaces WHERE name = ?", [name])) as Row);
  }

  async get(workspaceId: string): Promise<Workspace | undefined> {
    const row = await this.db.get("SELECT * FROM workspaces WHERE id = ?", [workspaceId]);
    return row ? toWorkspace(row) : undefined;
  }

  async addKey(
    workspaceId: string,
    keyHash: string,
    prefix: string,
    source: string | null = null,
  ): Promise<void> {
    await this.db.run(
      "INSERT INTO api_keys (key_hash, workspace_id, prefix, created_at, source) VALUES (?, ?, ?, ?, ?) ON CONFLICT (key_hash) DO NOTHING",
      [keyHash, workspaceId, prefix, Date.now(), source],
    );
  }

  async findByKeyHash(keyHash: string): Promise<Workspace | undefined> {
    const row = await this.db.get(
      "SELECT w.* FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id WHERE k.key_hash = ? AND k.revoked_at IS NULL",
      [keyHash],
    );
    return row ? toWorkspace(row) : undefined;
  }

  async keyState(keyHash: string): Promise<KeyState> {
    const row = await this.db.get("SELECT revoked_at FROM api_keys WHERE key_hash = ?", [keyHash]);
    if (!row) return "unknown";
    return row.revoked_at === null ? "active" : "revoked";
  }

  async listKeys(): Promise<ApiKeyInfo[]> {
    const rows = await this.db.all(
      `SELECT k.*, w.name AS workspace_name FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id
       ORDER BY k.created_at, k.key_hash`,
      [],
    );
    return rows.map(toKeyInfo);
  }

  async revokeKey(id: string, now: number): Promise<RevokeResult> {
    if (!/^[0-9a-f]{8,64}$/.test(id)) return "not_found";
    const matches = await this.db.all("SELECT key_hash FROM api_keys WHERE key_hash LIKE ? LIMIT 2", [
      `${id}%`,
    ]);
    if (matches.length === 0) return "not_found";
    if (matches.length > 1) return "ambiguous";
    await this.db.run("UPDATE api_keys SET revoked_at = ? WHERE key_hash = ? AND revoked_at IS NULL", [
      now,
      matches[0].key_hash,
    ]);
    return "revoked";
  }

  async revokeOtherKeysOf(source: string, keepHash: string, now: number): Promise<number> {
    return this.db.run(
      "UPDATE api_keys SET revoked_at = ? WHERE source = ? AND key_hash <> ? AND revoked_at IS NULL",
      [now, source, keepHash],
    );
  }

  async touchKey(keyHash: string, now: number): Promise<void> {
    await this.db.run("UPDATE api_keys SET last_used_at = ? WHERE key_hash = ?", [now, keyHash]);
  }

  async setWhitelistEnabled(workspaceId: string, enabled: boolean): Promise<Workspace | undefined> {
    const row = await this.db.get("UPDATE workspaces SET whitelist_enabled = ? WHERE id = ? RETURNING *", [
      enabled ? 1 : 0,
      workspaceId,
    ]);
    return row ? toWorkspace(row) : undefined;
  }

  async addWhitelistUsers(workspaceId: string, externalUserIds: string[], now: number): Promise<number> {
    const unique = [...new Set(externalUserIds)];
    if (unique.length === 0) return 0;
    return this.db.transaction(async (tx) => {
      let added = 0;
      for (const group of statementGroups(tx, unique, 300)) {
        const params = group.flatMap((id) => [workspaceId, id, now]);
        added += await tx.run(
          `INSERT INTO whitelist_users (workspace_id, external_user_id, created_at)
           VALUES ${group.map(() => "(?, ?, ?)").join(", ")} ON CONFLICT (workspace_id, external_user_id) DO NOTHING`,
          params,
        );
      }
      return added;
    });
  }

  async removeWhitelistUser(workspaceId: string, externalUserId: string): Promise<boolean> {
    const removed = await this.db.run(
      "DELETE FROM whitelist_users WHERE workspace_id = ? AND external_user_id = ?",
      [workspaceId, externalUserId],
    );
    return removed > 0;
  }

  async listWhitelistUsers(workspaceId: string, page: PageQuery): Promise<Page<WhitelistEntry>> {
    const rows = await this.db.all(
      `SELECT external_user_id, created_at FROM whitelist_users WHERE workspace_id = ?
       ORDER BY created_at, external_user_id LIMIT ? OFFSET ?`,
      [workspaceId, page.limit, page.offset],
    );
    const total = (await this.db.get("SELECT COUNT(*) AS c FROM whitelist_users WHERE workspace_id = ?", [
      workspaceId,
    ])) as Row;
    return {
      rows: rows.map((r) => ({ externalUserId: r.external_user_id, createdAt: n(r.created_at) })),
      total: n(total.c),
    };
  }

  async whitelistedAmong(workspaceId: string, externalUserIds: string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (const group of statementGroups(this.db, [...new Set(externalUserIds)])) {
      const rows = await this.db.all(
        `SELECT external_user_id FROM whitelist_users WHERE workspace_id = ? AND external_user_id IN (${marks(group.length)})`,
        [workspaceId, ...group],
      );
      for (const r of rows) found.add(r.external_user_id);
    }
    return found;
  }
}

function toKeyInfo(r: Row): ApiKeyInfo {
  return {
    id: String(r.key_hash).slice(0, 16),
    workspaceId: r.workspace_id,
    workspaceName: r.workspace_name,
    prefix: r.prefix,
    createdAt: n(r.created_at),
    lastUsedAt: r.last_used_at === null ? null : n(r.last_used_at),
    revokedAt: r.revoked_at === null ? null : n(r.revoked_at),
    source: r.source ?? null,
  };
}
