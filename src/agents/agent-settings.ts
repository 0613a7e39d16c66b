/**
 * An agent's `settings`: the model parameters beyond its own fields (temperature, max_tokens)
 * that are sent with every model call of its turns, and the simulator's fault options. Every
 * key is either sent to the provider or refused when the agent is saved, naming it: a setting
 * the provider cannot honour (or one nothing reads) is never stored and silently left out.
 */
import type { ModelRequest, ProviderCapabilities, RequestFeature } from "../providers/types.js";

type Parsed = { ok: true; value: unknown } | { ok: false; message: string };

interface SettingSpec {
  /** The request field it sets; absent for the simulator's options (read from `options`). */
  field?: keyof ModelRequest;
  /** The feature a provider must honour for it; absent: only the simulator takes it. */
  feature?: RequestFeature;
  parse: (v: unknown) => Parsed;
}

const number =
  (min: number, max: number, integer = false) =>
  (v: unknown): Parsed =>
    typeof v === "number" && Number.isFinite(v) && v >= min && v <= max && (!integer || Number.isInteger(v))
      ? { ok: true, value: v }
      : { ok: false, message: `must be ${integer ? "an integer" : "a number"} from ${min} to ${max}` };

/** OpenAI's `stop`: one string or up to four, each non-empty. */
function stopSequences(v: unknown): Parsed {
  const list = typeof v === "string" ? [v] : v;
  if (
    Array.isArray(list) &&
    list.length >= 1 &&
    list.length <= 4 &&
    list.every((s) => typeof s === "string" && s.length > 0)
  ) {
    return { ok: true, value: list };
  }
  return { ok: false, message: "must be a non-empty string or a list of 1 to 4 of them" };
}

const SETTINGS: Record<string, SettingSpec> = {
  top_p: { field: "topP", feature: "topP", parse: number(0, 1) },
  stop: { field: "stop", feature: "stop", parse: stopSequences },
  seed: { field: "seed", feature: "seed", parse: number(-(2 ** 53) + 1, 2 ** 53 - 1, true) },
  frequency_penalty: { field: "frequencyPenalty", feature: "frequencyPenalty", parse: number(-2, 2) },
  presence_penalty: { field: "presencePenalty", feature: "presencePenalty", parse: number(-2, 2) },
  // The simulator's options (simulated.ts): latency, and injected upstream errors.
  latency_ms: { parse: number(0, 3_600_000) },
  error_rate: { parse: number(0, 1) },
  fail_status: { parse: number(100, 599, true) },
};

/** The setting keys an agent may carry. */
export const AGENT_SETTING_KEYS = Object.keys(SETTINGS);

/**
 * Why `settings` cannot be sent to a provider with `capabilities` (`provider` names it), naming
 * the first offending key as `settings.<key>`; null when every key is honoured.
 */
export function agentSettingsError(
  settings: Record<string, unknown>,
  provider: string,
  capabilities: ProviderCapabilities,
): string | null {
  for (const [key, value] of Object.entries(settings)) {
    const spec = SETTINGS[key];
    if (!spec) {
      return `settings.${key} is not a known setting; use ${AGENT_SETTING_KEYS.join(", ")}`;
    }
    const parsed = spec.parse(value);
    if (!parsed.ok) return `settings.${key}: ${parsed.message}`;
    const honoured = spec.feature
      ? capabilities.request[spec.feature] !== "refused"
      : capabilities.kind === "simulated";
    if (!honoured) {
      return `settings.${key}: not supported by provider "${provider}" (${capabilities.kind}); remove it or use a model of a provider that honours it`;
    }
  }
  return null;
}

/** The request fields an agent's settings set (keys agentSettingsError refused are left to it). */
export function requestFieldsOfSettings(settings: Record<string, unknown>): Partial<ModelRequest> {
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(settings)) {
    const spec = SETTINGS[key];
    if (!spec?.field) continue;
    const parsed = spec.parse(value);
    if (parsed.ok) fields[spec.field] = parsed.value;
  }
  return fields as Partial<ModelRequest>;
}
