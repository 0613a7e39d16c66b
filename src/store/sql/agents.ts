import type { Agent, AgentPatch, AgentStore, AgentVersion, NewAgent } from "../agents.js";
import type { Page, PageQuery } from "../page.js";
import type { Row, SqlDriver } from "./driver.js";
import { rowInWorkspace } from "./queries.js";
import { n, toAgent, toAgentVersion } from "./rows.js";

const AGENT_COLUMNS: Record<keyof AgentPatch, string> = {
  name: "name",
  description: "description",
  model: "model",
  systemPrompt: "system_prompt",
  temperature: "temperature",
  maxTokens: "max_tokens",
  settings: "settings",
  responseFormat: "response_format",
  tools: "tools",
  maxSteps: "max_steps",
};

const DEFAULT_MAX_STEPS = 10;

/** Columns holding JSON text. */
const JSON_COLUMNS = new Set(["settings", "responseFormat", "tools"]);

/** Agents and their published versions (immutable snapshots). */
export class SqlAgentStore implements AgentStore {
  constructor(private readonly db: SqlDriver) {}

  async create(a: NewAgent, now: number): Promise<Agent> {
    const row = await this.db.get(
      `INSERT INTO agents (id, workspace_id, name, description, model, system_prompt, temperature, max_tokens,
         settings, response_format, tools, max_steps, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
      [
        a.id,
        a.workspaceId,
        a.name,
        a.description,
        a.model,
        a.systemPrompt,
        a.temperature,
        a.maxTokens,
        JSON.stringify(a.settings),
        a.responseFormat ? JSON.stringify(a.responseFormat) : null,
        JSON.stringify(a.tools ?? []),
        a.maxSteps ?? DEFAULT_MAX_STEPS,
        now,
        now,
      ],
    );
    return toAgent(row as Row);
  }

  async get(workspaceId: string, agentId: string): Promise<Agent | undefined> {
    const row = await rowInWorkspace(this.db, "agents", agentId, workspaceId);
    return row ? toAgent(row) : undefined;
  }

  async list(workspaceId: string, page: PageQuery, publishedOnly = false): Promise<Page<Agent>> {
    const where = `workspace_id = ?${publishedOnly ? " AND published_version IS NOT NULL" : ""}`;
    const rows = await this.db.all(
      `SELECT * FROM agents WHERE ${where} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
      [workspaceId, page.limit, page.offset],
    );
    const total = (await this.db.get(`SELECT COUNT(*) AS c FROM agents WHERE ${where}`, [
      workspaceId,
    ])) as Row;
    return { rows: rows.map(toAgent), total: n(total.c) };
  }

  async update(
    workspaceId: string,
    agentId: string,
    patch: AgentPatch,
    now: number,
  ): Promise<Agent | undefined> {
    const sets: string[] = [];
    const values: unknown[] = [];
    for (const [key, column] of Object.entries(AGENT_COLUMNS)) {
      const v = patch[key as keyof AgentPatch];
      if (v === undefined) continue;
      sets.push(`${column} = ?`);
      values.push(JSON_COLUMNS.has(key) ? (v === null ? null : JSON.stringify(v)) : v);
    }
    sets.push("updated_at = ?");
    values.push(now);
    const row = await this.db.get(
      `UPDATE agents SET ${sets.join(", ")} WHERE id = ? AND workspace_id = ? RETURNING *`,
      [...values, agentId, workspaceId],
    );
    return row ? toAgent(row) : undefined;
  }

  async publish(workspaceId: string, agentId: string, now: number): Promise<Agent | undefined> {
    return this.db.transaction(async (tx) => {
      // Taking the row lock first numbers concurrent publishes one after the other.
      const agent = await tx.get(
        `UPDATE agents SET published_version = COALESCE(published_version, 0) + 1, published_at = ?, updated_at = ?
         WHERE id = ? AND workspace_id = ? RETURNING *`,
        [now, now, agentId, workspaceId],
      );
      if (!agent) return undefined;
      await tx.run(
        `INSERT INTO agent_versions (agent_id, version, name, model, system_prompt, temperature, max_tokens, settings,
           response_format, tools, max_steps, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          agentId,
          agent.published_version,
          agent.name,
          agent.model,
          agent.system_prompt,
          agent.temperature,
          agent.max_tokens,
          agent.settings,
          agent.response_format ?? null,
          agent.tools,
          agent.max_steps,
          now,
        ],
      );
      return toAgent(agent);
    });
  }

  async getVersion(agentId: string, version: number): Promise<AgentVersion | undefined> {
    const row = await this.db.get("SELECT * FROM agent_versions WHERE agent_id = ? AND version = ?", [
      agentId,
      version,
    ]);
    return row ? toAgentVersion(row) : undefined;
  }
}
