import type { Command } from "commander";
import { loadConfig } from "../config/index.js";
import type { ApiKeyInfo } from "../store/types.js";

// The store and auth modules are loaded inside the actions, as main.ts does for the server side.
const storeSide = async () => ({
  ...(await import("../store/index.js")),
  ...(await import("../server/auth.js")),
});

const iso = (ms: number | null) => (ms === null ? "-" : new Date(ms).toISOString());

/** `keys list` as a tab-separated table: never the key, only its id and prefix. */
function keyTable(list: ApiKeyInfo[]): string {
  const rows = list.map((k) =>
    [
      k.id,
      `${k.prefix}…`,
      k.workspaceName,
      iso(k.createdAt),
      iso(k.lastUsedAt),
      k.revokedAt === null ? "active" : `revoked ${iso(k.revokedAt)}`,
      k.source ?? "",
    ].join("\t"),
  );
  return `${["id\tprefix\tworkspace\tcreated\tlast used\tstate\tsource", ...rows].join("\n")}\n`;
}

/** `agentbatch keys create|list|revoke`: API keys, straight on the database (no server needed). */
export function registerKeyCommands(program: Command): void {
  const keys = program.command("keys").description("API keys");
  keys
    .command("create")
    .description("create an API key and print it (it is stored hashed and cannot be shown again)")
    .option("--workspace <name>", "workspace the key belongs to (created if needed)", "default")
    .option("--db <url>", "database: sqlite:PATH or postgres://...")
    .action(async (opts) => {
      const config = loadConfig({ db: opts.db });
      const { openStore, generateApiKey, registerApiKey } = await storeSide();
      const store = await openStore(config.db);
      const key = generateApiKey();
      const ws = await registerApiKey(store, key, opts.workspace);
      await store.close();
      process.stderr.write(`workspace: ${ws.name} (${ws.id})\n`);
      process.stdout.write(`${key}\n`);
    });
  keys
    .command("list")
    .description("list keys: id, prefix, workspace, created, last used, revoked (never the key itself)")
    .option("--db <url>", "database: sqlite:PATH or postgres://...")
    .action(async (opts, cmd: Command) => {
      const config = loadConfig({ db: opts.db });
      const { openStore } = await storeSide();
      const store = await openStore(config.db);
      const list = await store.workspaces.listKeys();
      await store.close();
      // --json is the program's global option (client-commands.ts).
      if (cmd.optsWithGlobals().json) {
        process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
        return;
      }
      process.stdout.write(keyTable(list));
    });
  keys
    .command("revoke <id>")
    .description("revoke a key by the id `keys list` shows (it stops working within 30 seconds)")
    .option("--db <url>", "database: sqlite:PATH or postgres://...")
    .action(async (id: string, opts) => {
      const config = loadConfig({ db: opts.db });
      const { openStore } = await storeSide();
      const store = await openStore(config.db);
      const result = await store.workspaces.revokeKey(id.toLowerCase(), Date.now());
      await store.close();
      if (result === "not_found") throw new Error(`no key has the id ${id} (see agentbatch keys list)`);
      if (result === "ambiguous") throw new Error(`more than one key starts with ${id}: give more of the id`);
      process.stdout.write(`revoked ${id}\n`);
    });
}
