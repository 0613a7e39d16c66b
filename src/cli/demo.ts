import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Config } from "../config/index.js";
import { generateApiKey, registerApiKey } from "../server/auth.js";
import { startService } from "../service.js";
import { DEMO_TOOL_AGENT_NAME, ensureDemoToolAgent, startDemoToolServer } from "./demo-tool.js";

const DEMO_AGENT_NAME = "Demo agent (simulated)";

/** The demo key is kept beside the SQLite file so that a restarted demo prints the same key. */
function demoKey(config: Config): string {
  if (config.bootstrapApiKey) return config.bootstrapApiKey;
  const dbPath = config.db.startsWith("sqlite:") ? config.db.slice("sqlite:".length) : "./data/agentbatch.db";
  const file = join(dirname(dbPath), "demo-api-key");
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  const key = generateApiKey();
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}

/**
 * `agentbatch demo` / `npm start`: serve with the embedded defaults, make sure a published
 * agent on the simulated model exists, and print how to use it.
 */
export async function runDemo(config: Config): Promise<() => Promise<void>> {
  const key = demoKey(config);
  const tool = await startDemoToolServer();
  const tools = { ...config.tools, trustedOrigins: [...config.tools.trustedOrigins, tool.origin] };
  // The demo runs on the simulated model, even where the config switched it off.
  const providers = { simulated: { type: "simulated" as const }, ...config.providers };
  const service = await startService(
    { ...config, providers, tools, bootstrapApiKey: key },
    { api: true, worker: true },
  );
  const ws = await registerApiKey(service.store, key);
  const existing = await service.store.agents.list(ws.id, { limit: 1000, offset: 0 }, true);
  let agent = existing.rows.find((a) => a.name === DEMO_AGENT_NAME);
  if (!agent) {
    const now = Date.now();
    await service.store.agents
      .create(
        {
          id: crypto.randomUUID(),
          workspaceId: ws.id,
          name: DEMO_AGENT_NAME,
          description: "Answers instantly on the built-in simulated model; no network or keys needed.",
          model: "simulated/echo",
          systemPrompt: "You are a helpful assistant.",
          temperature: null,
          maxTokens: null,
          settings: {},
        },
        now,
      )
      .then((a) => (agent = a));
    agent = await service.store.agents.publish(ws.id, agent!.id, now);
  }
  const toolAgent = await ensureDemoToolAgent(service.store, ws.id, tool.url);
  const url = service.url as string;
  const api = `${url}/api/v1`;
  process.stdout.write(
    [
      "",
      `agentbatch is running at ${url}`,
      `  dashboard:  ${url}/#key=${encodeURIComponent(key)}  (signs you in with the demo key)`,
      `  API docs:   ${url}/docs`,
      `  API key:    ${key}`,
      `  agent id:   ${agent!.id}  (${DEMO_AGENT_NAME})`,
      `  tool agent: ${toolAgent.id}  (${DEMO_TOOL_AGENT_NAME}; its transcript: /batches/BATCH_ID/results/CUSTOM_ID/steps)`,
      "",
      "Submit a batch:",
      `  curl -s -X POST ${api}/batches -H 'x-api-key: ${key}' -H 'content-type: application/json' \\`,
      `    -d '{"agent_id":"${agent!.id}","requests":[{"custom_id":"req-1","message":"Hello"},{"custom_id":"req-2","message":"What are your business hours?"}]}'`,
      "Then poll it and read the results:",
      `  curl -s ${api}/batches/BATCH_ID -H 'x-api-key: ${key}'`,
      `  curl -s ${api}/batches/BATCH_ID/results -H 'x-api-key: ${key}'`,
      "",
    ].join("\n"),
  );
  return async () => {
    await service.close();
    await tool.close();
  };
}
