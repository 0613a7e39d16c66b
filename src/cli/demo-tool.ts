/**
 * The demo's second agent: on the simulated model with an http tool (`lookup_order`) that the
 * demo serves itself, on a loopback port listed in `tools.trusted_origins`, so that `npm start`
 * shows an agent that acts with no network or keys.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Agent, Store } from "../store/types.js";

export const DEMO_TOOL_AGENT_NAME = "Demo agent with a tool (simulated)";

export interface DemoToolServer {
  url: string;
  origin: string;
  close(): Promise<void>;
}

/** Answers `lookup_order` calls with a made-up order status derived from the arguments. */
export async function startDemoToolServer(): Promise<DemoToolServer> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      let args: Record<string, unknown> = {};
      try {
        args = JSON.parse(Buffer.concat(chunks).toString("utf8")).arguments ?? {};
      } catch {
        res.writeHead(400).end("not JSON");
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ order: args.order_id ?? "unknown", status: "shipped", eta_days: 2 }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${origin}/lookup_order`,
    origin,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function demoTools(url: string) {
  return [
    {
      type: "http" as const,
      name: "lookup_order",
      description: "Looks up the status of an order by its id",
      parameters: {
        type: "object",
        properties: { order_id: { type: "string", description: "The order id" } },
        required: ["order_id"],
      },
      url,
      secret: null,
      timeoutMs: 5000,
    },
  ];
}

/** The published tool agent, its tool pointed at this run's port (it changes between runs). */
export async function ensureDemoToolAgent(
  store: Store,
  workspaceId: string,
  toolUrl: string,
): Promise<Agent> {
  const existing = await store.agents.list(workspaceId, { limit: 1000, offset: 0 }, true);
  const found = existing.rows.find((a) => a.name === DEMO_TOOL_AGENT_NAME);
  const now = Date.now();
  const tools = demoTools(toolUrl);
  if (found && found.tools?.[0]?.type === "http" && found.tools[0].url === toolUrl) return found;
  const agent = found
    ? await store.agents.update(workspaceId, found.id, { tools }, now)
    : await store.agents.create(
        {
          id: crypto.randomUUID(),
          workspaceId,
          name: DEMO_TOOL_AGENT_NAME,
          description: "Calls the demo's lookup_order tool, then answers with its result.",
          model: "simulated/echo",
          systemPrompt: "You are a support agent. Look orders up before answering.",
          temperature: null,
          maxTokens: null,
          settings: {},
          tools,
          maxSteps: 5,
        },
        now,
      );
  return (await store.agents.publish(workspaceId, (agent as Agent).id, now)) as Agent;
}
