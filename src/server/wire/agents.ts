/** How agents look on the wire (seed 001's published-agent fields, then extensions). */

import { toolToWire } from "../../agents/tools/validate.js";
import { iso } from "../../domain/time.js";
import type { Agent, AgentResponseFormat } from "../../store/types.js";

export interface WireResponseFormat {
  type: "json_object" | "json_schema";
  json_schema?: { name: string; schema: Record<string, unknown>; strict?: boolean; description?: string };
}

export function responseFormatToWire(
  format: AgentResponseFormat | null | undefined,
): WireResponseFormat | null {
  if (!format) return null;
  if (format.type === "json_object") return { type: "json_object" };
  return { type: "json_schema", json_schema: { ...format.jsonSchema } };
}

export function agentToWire(a: Agent) {
  return {
    id: a.id,
    name: a.name,
    description: a.description,
    workspace_id: a.workspaceId,
    publish_state: a.publishedVersion === null ? "draft" : "published",
    published_version: a.publishedVersion,
    published_at: iso(a.publishedAt),
    model: a.model,
    llm_model: a.model,
    system_prompt: a.systemPrompt,
    temperature: a.temperature,
    max_tokens: a.maxTokens,
    settings: a.settings,
    tools: (a.tools ?? []).map(toolToWire),
    max_steps: a.maxSteps ?? 10,
    response_format: responseFormatToWire(a.responseFormat),
    created_at: iso(a.createdAt),
    updated_at: iso(a.updatedAt),
  };
}
