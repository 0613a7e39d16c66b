import type { ProviderConfig } from "../config/index.js";
import { AnthropicProvider } from "./anthropic.js";
import { capabilitiesOf } from "./capabilities.js";
import { OpenAICompatibleProvider } from "./openai-compatible.js";
import { SimulatedProvider } from "./simulated.js";
import type { ModelProvider, ProviderCapabilities, UpstreamLimits } from "./types.js";

/**
 * Splits `provider/model` at the first slash, so model names may hold slashes of their own
 * (`openrouter/meta-llama/llama-3-8b`) and colons (`local/llama3:8b`).
 */
export function parseModelRef(ref: string): { provider: string; model: string } {
  const slash = ref.indexOf("/");
  if (slash <= 0 || slash === ref.length - 1) {
    throw new Error(
      `invalid model "${ref}": write it as provider/model, for example openai/gpt-4o-mini or simulated/echo`,
    );
  }
  return { provider: ref.slice(0, slash), model: ref.slice(slash + 1) };
}

/** The configured providers by name, each built on first use so unused ones open no connections. */
export class ProviderRegistry {
  private readonly configs: Record<string, ProviderConfig>;
  private readonly defaults: { timeoutMs: number };
  private readonly providers = new Map<string, ModelProvider>();

  constructor(configs: Record<string, ProviderConfig>, defaults: { timeoutMs: number }) {
    this.configs = configs;
    this.defaults = defaults;
  }

  has(name: string): boolean {
    return Object.hasOwn(this.configs, name);
  }

  get(name: string): ModelProvider | undefined {
    const existing = this.providers.get(name);
    if (existing) return existing;
    if (!this.has(name)) return undefined;
    const provider = createProvider(name, this.configs[name], this.defaults);
    this.providers.set(name, provider);
    return provider;
  }

  /** What a configured provider honours, without opening it (undefined for an unknown name). */
  capabilities(name: string): ProviderCapabilities | undefined {
    return this.has(name) ? capabilitiesOf(this.configs[name].type) : undefined;
  }

  limitsFor(name: string): UpstreamLimits {
    const cfg = this.has(name) ? this.configs[name] : undefined;
    if (!cfg) return {};
    return { rpm: cfg.rpm, tpm: cfg.tpm, maxConcurrency: cfg.maxConcurrency };
  }

  async closeAll(): Promise<void> {
    const open = [...this.providers.values()];
    this.providers.clear();
    await Promise.all(open.map((provider) => provider.close()));
  }
}

function createProvider(name: string, cfg: ProviderConfig, defaults: { timeoutMs: number }): ModelProvider {
  switch (cfg.type) {
    case "simulated":
      return new SimulatedProvider(name, cfg.timeoutMs ?? defaults.timeoutMs);
    case "openai-compatible":
      return new OpenAICompatibleProvider(name, cfg, defaults);
    case "anthropic":
      return new AnthropicProvider(name, cfg, defaults);
  }
}
