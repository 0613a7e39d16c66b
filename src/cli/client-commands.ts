/**
 * The CLI as a client of a running server: agents, submit, status, results, cancel, pause,
 * resume, retry, ls. Everything goes through agentbatch/client over HTTP (`--url`, `--key`).
 */
import { type Command, Option } from "commander";
import { registerAgentCommands } from "./agent-commands.js";
import { registerBatchCommands } from "./batch-commands.js";
import { registerToolCommands } from "./tool-commands.js";

export function registerClientCommands(program: Command): void {
  program
    .addOption(
      new Option("--url <url>", "server of the client commands")
        .env("AGENTBATCH_URL")
        .default("http://127.0.0.1:8080"),
    )
    .addOption(new Option("--key <key>", "API key of the client commands").env("AGENTBATCH_API_KEY"))
    .option("--json", "print JSON (client commands)");
  registerAgentCommands(program);
  registerBatchCommands(program);
  registerToolCommands(program);
}
