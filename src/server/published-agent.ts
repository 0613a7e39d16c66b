/**
 * The rule every new piece of work follows (a batch, a batch request, a file row, a chat, a chat
 * message): the agent it names must exist in the caller's workspace and have a published version.
 */
import type { Agent, Store } from "../store/types.js";
import { badRequest } from "./errors.js";

/** Why `agent` (looked up by `id`) cannot take new work, or null when it can. */
export function unpublishedAgentProblem(agent: Agent | null | undefined, id: string): string | null {
  if (!agent) return `agent ${id} not found in this workspace`;
  if (agent.publishedVersion === null) {
    return `agent ${id} has no published version; publish it first (POST /api/v1/agents/${id}/publish)`;
  }
  return null;
}

/** The published agent `id` of the workspace, or a 400 naming `field`. */
export async function publishedAgent(
  store: Store,
  workspaceId: string,
  id: string,
  field: string,
): Promise<Agent> {
  const agent = await store.agents.get(workspaceId, id);
  const problem = unpublishedAgentProblem(agent, id);
  if (problem) throw badRequest(`${field}: ${problem}`);
  return agent as Agent;
}
