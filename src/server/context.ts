import type { Config } from "../config/index.js";
import type { Signals } from "../engine/signals.js";
import type { FileStorage } from "../files/storage.js";
import type { ProviderRegistry } from "../providers/registry.js";
import type { Store } from "../store/types.js";
import type { KeyResolver } from "./auth.js";

/** What the routes get to work with. Routes never call providers; they use the registry only to check model names. */
export interface AppContext {
  store: Store;
  signals: Signals;
  config: Config;
  keys: KeyResolver;
  providers: ProviderRegistry;
  files: FileStorage;
}
