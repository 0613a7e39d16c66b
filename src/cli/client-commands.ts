/**
 * The CLI as a client of a running server: agents, submit, status, results, cancel, pause,
 * resume, retry, ls. Everything goes through agentbatch/client over HTTP (`--url`, `--key`).
 */
import { createWriteStream, openAsBlob } from "node:fs";
import { stat } from "node:fs/promises";
import { basename, extname } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import { type Command, InvalidArgumentError, Option } from "commander";
import {
  AgentbatchClient,
  AgentbatchConnectionError,
  AgentbatchError,
  type Batch,
  type CreateBatchParams,
  type ExportFormat,
} from "../client/index.js";
import { agentsTable, batchesTable, batchSummary } from "./client-output.js";
import { BatchProgressBar } from "./progress.js";

/** Exit codes a script can rely on (README "CLI"). */
export const ExitCode = {
  OK: 0,
  /** Bad command line or input file. */
  USAGE: 1,
  /** The server answered with an error (4xx/5xx after retries). */
  API: 2,
  /** The batch ended failed or cancelled, or with failed requests. */
  BATCH_FAILED: 3,
  /** The server could not be reached. */
  NETWORK: 4,
} as const;

class UsageError extends Error {}

interface GlobalOptions {
  url: string;
  key?: string;
  json?: boolean;
}

const INPUT_FORMATS = ["csv", "jsonl", "json"] as const;

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("expected a positive whole number");
  return n;
}

function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}

function clientFor(opts: GlobalOptions): AgentbatchClient {
  return new AgentbatchClient({ baseUrl: opts.url, apiKey: opts.key });
}

function print(text: string): void {
  process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** A batch that ended badly or has failed requests makes `submit --wait` and `status` exit 3. */
function batchExitCode(b: Batch): number {
  const finished = ["completed", "failed", "cancelled"].includes(b.status);
  if (b.status === "failed" || b.status === "cancelled") return ExitCode.BATCH_FAILED;
  return finished && b.failed_requests > 0 ? ExitCode.BATCH_FAILED : ExitCode.OK;
}

/** Runs an action and turns its outcome into the documented exit code. */
function action<A extends unknown[]>(run: (opts: GlobalOptions, ...args: A) => Promise<number | undefined>) {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const opts = globals(cmd);
    try {
      // commander passes the positional arguments, then the command's options, then the command.
      process.exitCode = (await run(opts, ...(args.slice(0, -1) as A))) ?? ExitCode.OK;
    } catch (err) {
      process.exitCode = report(err, opts);
    }
  };
}

function report(err: unknown, opts: GlobalOptions): number {
  let code: number = ExitCode.USAGE;
  let detail: Record<string, unknown> = { message: (err as Error).message };
  if (err instanceof AgentbatchConnectionError) {
    code = ExitCode.NETWORK;
  } else if (err instanceof AgentbatchError) {
    code = ExitCode.API;
    detail = { status: err.status, error_code: err.errorCode, message: err.message };
  } else if (!(err instanceof UsageError) && (err as NodeJS.ErrnoException).code === undefined) {
    // Not ours and not a file-system error: a bug; show it whole.
    detail.stack = (err as Error).stack;
  }
  if (opts.json) process.stderr.write(`${JSON.stringify({ error: detail })}\n`);
  else {
    const prefix = err instanceof AgentbatchError && err.status > 0 ? `HTTP ${err.status}: ` : "";
    process.stderr.write(`agentbatch: ${prefix}${err instanceof Error ? err.message : String(err)}\n`);
  }
  return code;
}

/** Waits for the batch with a progress bar on stderr, then prints the summary (or the batch as JSON). */
async function waitAndSummarise(
  client: AgentbatchClient,
  batch: Batch,
  opts: GlobalOptions,
): Promise<number> {
  const bar = new BatchProgressBar();
  let final: Batch;
  try {
    final = await client.batches.wait(batch.id, {
      pollIntervalMs: 500,
      maxPollIntervalMs: 2000,
      onProgress: (b) => bar.update(b),
    });
  } finally {
    bar.stop();
  }
  if (opts.json) printJson(final);
  else print(batchSummary(final));
  return batchExitCode(final);
}

/** `field=column` pairs of --map. */
function mapping(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf("=");
  if (eq <= 0 || eq === value.length - 1) throw new InvalidArgumentError("expected field=column");
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

function formatOfFile(file: string): (typeof INPUT_FORMATS)[number] {
  const ext = extname(file).slice(1).toLowerCase();
  const format = INPUT_FORMATS.find((f) => f === ext);
  if (!format) throw new UsageError(`${file}: expected a .csv, .jsonl or .json file`);
  return format;
}

async function openInput(file: string): Promise<Blob> {
  try {
    return await openAsBlob(file);
  } catch (err) {
    throw new UsageError(`${file}: ${(err as Error).message}`);
  }
}

export function registerClientCommands(program: Command): void {
  program
    .addOption(
      new Option("--url <url>", "server of the client commands")
        .env("AGENTBATCH_URL")
        .default("http://127.0.0.1:8080"),
    )
    .addOption(new Option("--key <key>", "API key of the client commands").env("AGENTBATCH_API_KEY"))
    .option("--json", "print JSON (client commands)");

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
    .option("--publish", "publish it at once (batches need a published agent)")
    .action(
      action(async (g, o: Record<string, any>) => {
        const client = clientFor(g);
        let agent = await client.agents.create({
          name: o.name,
          model: o.model,
          system_prompt: o.systemPrompt,
          description: o.description,
          temperature: o.temperature,
          max_tokens: o.maxTokens,
        });
        if (o.publish) agent = await client.agents.publish(agent.id);
        if (g.json) printJson(agent);
        else print(`${agent.id}\n`);
        if (!g.json) {
          process.stderr.write(
            `agent "${agent.name}" created${agent.published_version ? `, published as version ${agent.published_version}` : " (draft: publish it before use)"}\n`,
          );
        }
        return ExitCode.OK;
      }),
    );
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

  program
    .command("submit <file>")
    .description("create a batch from a .csv, .jsonl or .json file of requests (custom_id, message, ...)")
    .requiredOption("--agent <id>", "default agent of the requests (published)")
    .option("--name <name>", "batch name")
    .option("--wait", "wait for the batch to finish, with a progress bar, then print a summary")
    .option("--map <field=column>", "column mapping, repeatable (e.g. --map message=question)", mapping)
    .addOption(
      new Option("--on-invalid-rows <mode>", "fail the batch on any invalid row, or skip those rows")
        .choices(["fail", "skip"])
        .default("fail"),
    )
    .action(
      action(async (g, file: string, o: Record<string, any>) => {
        const format = formatOfFile(file);
        const client = clientFor(g);
        // Uploaded as a stream from disk, so any number of rows makes one batch.
        const uploaded = await client.files.upload(await openInput(file), { filename: basename(file) });
        const params: CreateBatchParams = {
          agent_id: o.agent,
          file_id: uploaded.id,
          input_format: format,
          on_invalid_rows: o.onInvalidRows,
          name: o.name ?? basename(file),
          ...(o.map ? { column_mapping: o.map } : {}),
        };
        const batch = await client.batches.create(params);
        if (!g.json) {
          process.stderr.write(
            `batch ${batch.id} created: ${batch.total_requests} requests (${batch.status})\n`,
          );
        }
        if (o.wait && !["completed", "failed", "cancelled"].includes(batch.status)) {
          return waitAndSummarise(client, batch, g);
        }
        if (g.json) printJson(batch);
        else if (batch.status === "failed" || (batch.validation_errors ?? []).length > 0)
          print(batchSummary(batch));
        else print(batch.id);
        return batch.status === "failed" ? ExitCode.BATCH_FAILED : ExitCode.OK;
      }),
    );

  program
    .command("status <id>")
    .description("show a batch (exit 3 if it ended failed or cancelled, or has failed requests)")
    .option("--wait", "wait for it to finish, with a progress bar")
    .action(
      action(async (g, id: string, o: Record<string, any>) => {
        const client = clientFor(g);
        const batch = await client.batches.get(id);
        if (o.wait && !["completed", "failed", "cancelled"].includes(batch.status)) {
          return waitAndSummarise(client, batch, g);
        }
        if (g.json) printJson(batch);
        else print(batchSummary(batch));
        return batchExitCode(batch);
      }),
    );

  program
    .command("results <id>")
    .description("export every result of a batch (streamed)")
    .addOption(
      new Option(
        "--format <format>",
        "csv, jsonl or json (default: from -o's extension, else jsonl)",
      ).choices([...INPUT_FORMATS]),
    )
    .option("-o, --output <file>", "write to this file instead of stdout")
    .action(
      action(async (g, id: string, o: Record<string, any>) => {
        const fromName = o.output
          ? INPUT_FORMATS.find((f) => f === extname(o.output).slice(1).toLowerCase())
          : undefined;
        const format: ExportFormat = o.format ?? fromName ?? (g.json ? "json" : "jsonl");
        const stream = await clientFor(g).batches.export(id, format);
        const body = Readable.fromWeb(stream as NodeReadableStream<Uint8Array>);
        if (!o.output) {
          await pipeline(body, process.stdout, { end: false });
          return ExitCode.OK;
        }
        await pipeline(body, createWriteStream(o.output));
        if (g.json) {
          const { size } = await stat(o.output);
          printJson({ batch_id: id, format, file: o.output, bytes: size });
        } else process.stderr.write(`wrote ${o.output} (${format})\n`);
        return ExitCode.OK;
      }),
    );

  const control = [
    ["cancel", "cancel a batch: pending requests fail with 499, running ones finish"],
    ["pause", "pause a batch: no new request starts, running ones finish"],
    ["resume", "resume a paused batch"],
    ["retry", "run the failed requests of a finished batch again"],
  ] as const;
  for (const [name, description] of control) {
    program
      .command(`${name} <id>`)
      .description(description)
      .action(
        action(async (g, id: string) => {
          const batch = await clientFor(g).batches[name](id);
          if (g.json) printJson(batch);
          else print(`batch ${batch.id}: ${batch.status}`);
          return ExitCode.OK;
        }),
      );
  }

  program
    .command("ls")
    .description("list batches, newest first")
    .option("--status <status>", "only these statuses (comma-separated, e.g. in_progress,paused)")
    .option("--limit <n>", "at most this many", positiveInt, 50)
    .action(
      action(async (g, o: Record<string, any>) => {
        const batches: Batch[] = [];
        const list = clientFor(g).batches.list({ status: o.status, limit: Math.min(o.limit, 1000) });
        for await (const b of list) {
          batches.push(b);
          if (batches.length >= o.limit) break;
        }
        if (g.json) printJson(batches);
        else print(batchesTable(batches));
        return ExitCode.OK;
      }),
    );
}
