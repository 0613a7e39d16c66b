/**
 * `agentbatch batches tool-calls <id>` and `batches tool-outputs <id> --file outputs.jsonl`: the
 * client tool calls a batch waits on, printed one JSON object a line, and their answers sent back.
 */
import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import type { ToolOutput } from "../client/index.js";
import {
  action,
  clientFor,
  ExitCode,
  type GlobalOptions,
  print,
  printJson,
  UsageError,
} from "./client-action.js";

/** Most outputs one request carries (the API's limit). */
const OUTPUTS_PER_REQUEST = 1000;

export function registerToolCommands(program: Command): void {
  const batches = program.command("batches").description("client tool calls of batches");
  batches
    .command("tool-calls <id>")
    .description("print the client tool calls the batch waits on, one JSON object per line")
    .action(action(toolCalls));
  batches
    .command("tool-outputs <id>")
    .description("answer client tool calls from a JSONL file of {call_id, output} (exit 2 if any is refused)")
    .requiredOption("--file <path>", "the outputs, one JSON object per line")
    .action(action(toolOutputs));
}

async function toolCalls(g: GlobalOptions, id: string): Promise<number> {
  const calls = await clientFor(g).batches.toolCalls(id, { limit: 1000 }).toArray();
  if (g.json) printJson(calls);
  else for (const c of calls) print(JSON.stringify(c));
  return ExitCode.OK;
}

function parseOutputs(text: string, file: string): ToolOutput[] {
  const outputs: ToolOutput[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(line);
    } catch {
      throw new UsageError(`${file}:${i + 1}: not a JSON object`);
    }
    if (typeof row.call_id !== "string" || row.output === undefined) {
      throw new UsageError(`${file}:${i + 1}: needs "call_id" (a string) and "output"`);
    }
    outputs.push({ call_id: row.call_id, output: row.output });
  });
  if (outputs.length === 0) throw new UsageError(`${file} has no outputs`);
  return outputs;
}

async function toolOutputs(g: GlobalOptions, id: string, o: { file: string }): Promise<number> {
  const outputs = parseOutputs(await readFile(o.file, "utf8"), o.file);
  const client = clientFor(g);
  const totals = { accepted: 0, refused: 0, resumed_requests: 0 };
  const refused: { call_id: string; reason?: string }[] = [];
  for (let i = 0; i < outputs.length; i += OUTPUTS_PER_REQUEST) {
    const r = await client.batches.submitToolOutputs(id, outputs.slice(i, i + OUTPUTS_PER_REQUEST));
    totals.accepted += r.accepted;
    totals.refused += r.refused;
    totals.resumed_requests += r.resumed_requests;
    for (const x of r.results) if (!x.accepted) refused.push({ call_id: x.call_id, reason: x.reason });
  }
  if (g.json) printJson({ ...totals, refused_calls: refused });
  else {
    print(
      `accepted ${totals.accepted}, refused ${totals.refused}, resumed ${totals.resumed_requests} requests`,
    );
    for (const r of refused) print(`refused ${r.call_id}: ${r.reason}`);
  }
  return totals.refused > 0 ? ExitCode.API : ExitCode.OK;
}
