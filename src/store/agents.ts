/** Agents and their published versions (a batch runs the version published when it was created). */
import type { Page, PageQuery } from "./page.js";

/** A tool the agent's model may call; `parameters` is the JSON Schema of its arguments object. */
export type AgentTool =
  | {
      type: "http";
      name: string;
      description: string | null;
      parameters: Record<string, unknown>;
      /** POSTed to (https, or http on a trusted origin), signed like webhooks when `secret` is set. */
      url: string;
      secret: string | null;
      timeoutMs: number | null;
    }
  | { type: "client"; name: string; description: string | null; parameters: Record<string, unknown> }
  | {
      /** A Model Context Protocol server: its tools (listed when the agent is saved) are offered. */
      type: "mcp";
      /** The server's host, for messages; the model sees the listed tools' own names. */
      name: string;
      description: string | null;
      parameters: Record<string, unknown>;
      /** The definition as given (`server_url`, `headers`, `allowed_tools`). */
      server: { type: "mcp"; server_url: string; headers?: Record<string, string>; allowed_tools?: string[] };
      tools: { name: string; description: string; parameters: Record<string, unknown> }[];
    };

/**
 * Structured output an agent asks of its model: any JSON object, or JSON matching a schema
 * (the same shape as the providers' `ResponseFormat`).
 */
export type AgentResponseFormat =
  | { type: "json_object" }
  | {
      type: "json_schema";
      jsonSchema: { name: string; schema: Record<string, unknown>; strict?: boolean; description?: string };
    };

export interface AgentConfig {
  model: string;
  systemPrompt: string | null;
  temperature: number | null;
  maxTokens: number | null;
  /** Provider options (e.g. the simulator's latency_ms / error_rate). */
  settings: Record<string, unknown>;
  /** Tools the model may call (none or absent: one model call per turn). Stored rows always have it. */
  tools?: AgentTool[];
  /** Most model calls one turn may take before it fails (1..50; default 10). */
  maxSteps?: number;
  /** Structured output (null or absent: free text). */
  responseFormat?: AgentResponseFormat | null;
}

export interface Agent extends AgentConfig {
  id: string;
  workspaceId: string;
  name: string;
  description: string | null;
  /** Latest published version number, or null if never published. */
  publishedVersion: number | null;
  publishedAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface AgentVersion extends AgentConfig {
  agentId: string;
  version: number;
  name: string;
  createdAt: number;
}

export interface NewAgent extends AgentConfig {
  id: string;
  workspaceId: string;
  name: string;
  description: string | null;
}

export type AgentPatch = Partial<
  Pick<
    NewAgent,
    | "name"
    | "description"
    | "model"
    | "systemPrompt"
    | "temperature"
    | "maxTokens"
    | "settings"
    | "tools"
    | "maxSteps"
    | "responseFormat"
  >
>;

export interface AgentStore {
  create(agent: NewAgent, now: number): Promise<Agent>;
  get(workspaceId: string, agentId: string): Promise<Agent | undefined>;
  /** Agents of a workspace, newest first; `publishedOnly` keeps those with a published version. */
  list(workspaceId: string, page: PageQuery, publishedOnly?: boolean): Promise<Page<Agent>>;
  update(workspaceId: string, agentId: string, patch: AgentPatch, now: number): Promise<Agent | undefined>;
  /** Snapshots the agent's current config as a new published version. */
  publish(workspaceId: string, agentId: string, now: number): Promise<Agent | undefined>;
  getVersion(agentId: string, version: number): Promise<AgentVersion | undefined>;
}
