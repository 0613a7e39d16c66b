import { type ProviderRegistry, parseModelRef } from "../../providers/registry.js";

export type RoutedModel = { ok: true; model: string } | { ok: false; message: string };

/**
 * Picks the upstream of a shaped request's `model`: an alias from the config's `models` table
 * first (`gpt-4o-mini` → `openai/gpt-4o-mini`), else `provider/model` with a configured provider.
 * Real model names are never rerouted silently: without an alias, `gpt-4o-mini` is an error.
 */
export function routeModel(
  model: string,
  aliases: Record<string, string>,
  providers: ProviderRegistry,
): RoutedModel {
  const target = Object.hasOwn(aliases, model) ? aliases[model] : model;
  let ref: { provider: string; model: string };
  try {
    ref = parseModelRef(target);
  } catch {
    return {
      ok: false,
      message: `The model \`${model}\` does not exist: write it as provider/model (e.g. simulated/echo) or add an alias for it to the config's "models" table`,
    };
  }
  if (!providers.has(ref.provider)) {
    return {
      ok: false,
      message: `The model \`${model}\` routes to provider "${ref.provider}", which is not configured`,
    };
  }
  return { ok: true, model: target };
}
