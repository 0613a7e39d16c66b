/** How agents look on the wire (seed 001's published-agent fields, then extensions). */

import { toolToWire } from "../../agents/tools/validate.js";
import { iso } from "../../domain/time.js";
import type { Agent } from "../../store/types.js";

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
    created_at: iso(a.createdAt),
    updated_at: iso(a.updatedAt),
  };
}
