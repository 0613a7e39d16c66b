import { type ProviderRegistry, parseModelRef } from "../providers/registry.js";
import type { ChatMessage, ContentPart, ModelRequest } from "../providers/types.js";
import type { AgentConfig, ItemRequest, MessageRecord } from "../store/types.js";
import { agentSettingsError, requestFieldsOfSettings } from "./agent-settings.js";
import { chatTokenEstimate, embeddingTokenEstimate, type RequestCall, requestCall } from "./request-turn.js";

/** One agent turn: what a batch request and a chat message both are. */
export interface AgentTurn {
  agent: AgentConfig;
  message: string;
  /** Earlier messages of the chat being continued, oldest first. */
  history: MessageRecord[];
  /** Attached files, already turned into content parts (text inline, images as image parts). */
  attachments?: ContentPart[];
}

/** A whole model request (OpenAI / Anthropic batch shapes), already routed to `provider/model`. */
export interface RequestTurn {
  request: ItemRequest;
}

/** A turn resolved to one provider call on one upstream, ready for the rate limiter. */
export interface PreparedTurn {
  provider: string;
  model: string;
  /** A chat completion (agent turns always), an embeddings call or a Responses call. */
  call: RequestCall;
  /** Tokens the call may use (prompt + completion budget), taken from the TPM bucket up front. */
  estimatedTokens: number;
}

export type PrepareResult = { ok: true; turn: PreparedTurn } | { ok: false; code: number; message: string };

export const DEFAULT_COMPLETION_BUDGET = 512;

/** Resolves `provider/model` to a configured provider, or says why it cannot. */
export function routeModel(
  model: string,
  providers: ProviderRegistry,
): { ok: true; provider: string; model: string } | { ok: false; code: number; message: string } {
  let ref: { provider: string; model: string };
  try {
    ref = parseModelRef(model);
  } catch (err) {
    return { ok: false, code: 400, message: (err as Error).message };
  }
  if (!providers.has(ref.provider)) {
    return { ok: false, code: 400, message: `unknown provider "${ref.provider}" in model "${model}"` };
  }
  return { ok: true, ...ref };
}

/**
 * Builds the model call for a turn. An agent turn is the system prompt, the chat history, then
 * the new message; a request turn is sent as it is. Both end in the same PreparedTurn, run by
 * `runTurn` under the same limits.
 */
export function prepareTurn(turn: AgentTurn | RequestTurn, providers: ProviderRegistry): PrepareResult {
  if ("request" in turn) return prepareRequestTurn(turn.request, providers);
  const routed = agentRoute(turn.agent, providers);
  if (!routed.ok) return routed;
  const messages: ChatMessage[] = [];
  let promptChars = 0;
  if (turn.agent.systemPrompt) {
    messages.push({ role: "system", content: turn.agent.systemPrompt });
    promptChars += turn.agent.systemPrompt.length;
  }
  for (const m of turn.history) {
    if (m.role === "system") continue;
    messages.push({ role: m.role, content: m.content });
    promptChars += m.content.length;
  }
  const content: string | ContentPart[] =
    turn.attachments && turn.attachments.length > 0
      ? [{ type: "text", text: turn.message }, ...turn.attachments]
      : turn.message;
  messages.push({ role: "user", content });
  promptChars += turn.message.length;
  for (const part of turn.attachments ?? []) if (part.type === "text") promptChars += part.text.length;
  const request: ModelRequest = {
    model: routed.model,
    messages,
    temperature: turn.agent.temperature ?? undefined,
    maxTokens: turn.agent.maxTokens ?? undefined,
    ...routed.fields,
    options: turn.agent.settings,
  };
  if (turn.agent.responseFormat) request.responseFormat = turn.agent.responseFormat;
  const estimatedTokens = Math.ceil(promptChars / 4) + (turn.agent.maxTokens ?? DEFAULT_COMPLETION_BUDGET);
  const call: RequestCall = { operation: "complete", request };
  return { ok: true, turn: { provider: routed.provider, model: routed.model, call, estimatedTokens } };
}

/** What an agent's turns share: its route and the request fields of its settings, or why it cannot run. */
type AgentRoute =
  | { ok: true; provider: string; model: string; fields: Partial<ModelRequest> }
  | { ok: false; code: number; message: string };

/**
 * The route of each agent config, worked out once per config object and registry: an engine
 * keeps a published version's object for the life of the process, so its items no longer parse
 * the model name, check the settings and build their request fields one item at a time.
 */
const routes = new WeakMap<AgentConfig, { providers: ProviderRegistry; route: AgentRoute }>();

function agentRoute(agent: AgentConfig, providers: ProviderRegistry): AgentRoute {
  const cached = routes.get(agent);
  if (cached && cached.providers === providers) return cached.route;
  const route = routeAgent(agent, providers);
  routes.set(agent, { providers, route });
  return route;
}

function routeAgent(agent: AgentConfig, providers: ProviderRegistry): AgentRoute {
  const ref = routeModel(agent.model, providers);
  if (!ref.ok) return ref;
  // Settings are checked when the agent is saved, but a stored agent can outlive that check (a
  // provider's type changed in the config, an agent saved before a setting was checked): one its
  // provider cannot honour fails the turn naming it, never sent without it.
  const capabilities = providers.capabilities(ref.provider);
  if (!capabilities) return { ok: false, code: 400, message: `unknown provider "${ref.provider}"` };
  const refused = agentSettingsError(agent.settings, ref.provider, capabilities);
  if (refused) return { ok: false, code: 400, message: `the agent's ${refused}` };
  return {
    ok: true,
    provider: ref.provider,
    model: ref.model,
    fields: requestFieldsOfSettings(agent.settings),
  };
}

/**
 * A whole request: routed, then refused with a 400 naming each field the provider cannot honour
 * (before any permit is taken), else sent with every field it carries.
 */
function prepareRequestTurn(req: ItemRequest, providers: ProviderRegistry): PrepareResult {
  const ref = routeModel(req.model, providers);
  if (!ref.ok) return ref;
  const capabilities = providers.capabilities(ref.provider);
  if (!capabilities) return { ok: false, code: 400, message: `unknown provider "${ref.provider}"` };
  const resolved = requestCall(req, ref.provider, ref.model, capabilities);
  if (!resolved.ok) return { ok: false, code: 400, message: resolved.message };
  const { call } = resolved;
  const estimatedTokens =
    call.operation === "embed"
      ? embeddingTokenEstimate(call.request.input)
      : call.operation === "respond"
        ? Math.ceil(JSON.stringify(call.request.body).length / 4) + DEFAULT_COMPLETION_BUDGET
        : chatTokenEstimate(call.request, DEFAULT_COMPLETION_BUDGET);
  return { ok: true, turn: { provider: ref.provider, model: ref.model, call, estimatedTokens } };
}
