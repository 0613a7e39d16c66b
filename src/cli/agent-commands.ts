/** `agentbatch agents create|list|publish`: the workspace's agents, through the HTTP client. */
import { readFileSync } from "node:fs";
import { type Command, InvalidArgumentError } from "commander";
import type { Agent, ResponseFormat } from "../client/index.js";
import {
  action,
  clientFor,
  ExitCode,
  type GlobalOptions,
  positiveInt,
  print,
  printJson,
} from "./client-action.js";
import { agentsTable } from "./client-output.js";

export function registerAgentCommands(program: Command): void {
  const agents = program
    .command("agents")
    .description("agents of the workspace (client of a running server)");
  agents
    .command("create")
    .description("create an agent")
    .requiredOption("--name <name>", "agent name")
    .requiredOption("--model <model>", "provider/model, e.g. simulated/echo or openai/gpt-4o-mini")
    .option("--system-prompt <text>", "system prompt")
    .option("--description <text>", "description")
    .option("--temperature <t>", "sampling temperature (0..2)", Number)
    .option("--max-tokens <n>", "completion token limit", positiveInt)
    .option(
      "--response-format <json|@file>",
      'structured output, e.g. \'{"type":"json_object"}\' or @format.json ({"type":"json_schema","json_schema":{...}})',
      responseFormat,
    )
    .option("--publish", "publish it at once (batches need a published agent)")
    .action(action(createAgent));
  agents
    .command("list")
    .description("list agents, newest first")
    .action(
      action(async (g) => {
        const list = await clientFor(g).agents.list({ limit: 100 }).toArray();
        if (g.json) printJson(list);
        else print(agentsTable(list));
        return ExitCode.OK;
      }),
    );
  agents
    .command("publish <id>")
    .description("publish the agent's current settings as a new version")
    .action(
      action(async (g, id: string) => {
        const agent = await clientFor(g).agents.publish(id);
        if (g.json) printJson(agent);
        else print(`agent ${agent.id} published as version ${agent.published_version}`);
        return ExitCode.OK;
      }),
    );
}

async function createAgent(g: GlobalOptions, o: Record<string, any>): Promise<number> {
  const client = clientFor(g);
  let agent: Agent = await client.agents.create({
    name: o.name,
    model: o.model,
    system_prompt: o.systemPrompt,
    description: o.description,
    temperature: o.temperature,
    max_tokens: o.maxTokens,
    response_format: o.responseFormat,
  });
  if (o.publish) agent = await client.agents.publish(agent.id);
  if (g.json) {
    printJson(agent);
    return ExitCode.OK;
  }
  print(`${agent.id}\n`);
  const state = agent.published_version
    ? `, published as version ${agent.published_version}`
    : " (draft: publish it before use)";
  process.stderr.write(`agent "${agent.name}" created${state}\n`);
  return ExitCode.OK;
}

/** `--response-format`: JSON text, or `@path` of a file holding it. */
function responseFormat(value: string): ResponseFormat {
  let text = value;
  if (value.startsWith("@")) {
    try {
      text = readFileSync(value.slice(1), "utf8");
    } catch (err) {
      throw new InvalidArgumentError(`cannot read ${value.slice(1)}: ${(err as Error).message}`);
    }
  }
  try {
    return JSON.parse(text) as ResponseFormat;
  } catch (err) {
    throw new InvalidArgumentError(`not JSON: ${(err as Error).message}`);
  }
}
