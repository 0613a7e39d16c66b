/** `agentbatch submit|status|results|cancel|pause|resume|retry|ls`: batches, through the HTTP client. */
import { createWriteStream, openAsBlob } from "node:fs";
import { stat } from "node:fs/promises";
import { basename, extname } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import { type Command, InvalidArgumentError, Option } from "commander";
import type { AgentbatchClient, Batch, CreateBatchParams, ExportFormat } from "../client/index.js";
import {
  action,
  batchExitCode,
  clientFor,
  ExitCode,
  type GlobalOptions,
  isFinished,
  positiveInt,
  print,
  printJson,
  UsageError,
} from "./client-action.js";
import { batchesTable, batchSummary } from "./client-output.js";
import { BatchProgressBar } from "./progress.js";

const INPUT_FORMATS = ["csv", "jsonl", "json"] as const;

const CONTROL_COMMANDS = [
  ["cancel", "cancel a batch: pending requests fail with 499, running ones finish"],
  ["pause", "pause a batch: no new request starts, running ones finish"],
  ["resume", "resume a paused batch"],
  ["retry", "run the failed requests of a finished batch again"],
] as const;

export function registerBatchCommands(program: Command): void {
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
    .action(action(submit));
  program
    .command("status <id>")
    .description("show a batch (exit 3 if it ended failed or cancelled, or has failed requests)")
    .option("--wait", "wait for it to finish, with a progress bar")
    .action(action(status));
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
    .action(action(results));
  for (const [name, description] of CONTROL_COMMANDS) {
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
    .action(action(list));
}

async function submit(g: GlobalOptions, file: string, o: Record<string, any>): Promise<number> {
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
  const batch = await ingested(client, await client.batches.create(params));
  if (!g.json) {
    process.stderr.write(`batch ${batch.id} created: ${batch.total_requests} requests (${batch.status})\n`);
  }
  // The batch may already have finished while its file was read: wait() then answers at once.
  if (o.wait) return waitAndSummarise(client, batch, g);
  if (g.json) printJson(batch);
  else if (batch.status === "failed" || (batch.validation_errors ?? []).length > 0)
    print(batchSummary(batch));
  else print(batch.id);
  return batch.status === "failed" ? ExitCode.BATCH_FAILED : ExitCode.OK;
}

/** The batch once the server has read its whole file (it is `validating` until then). */
async function ingested(client: AgentbatchClient, batch: Batch): Promise<Batch> {
  let b = batch;
  while (b.status === "validating") {
    await new Promise((resolve) => setTimeout(resolve, 200));
    b = await client.batches.get(b.id);
  }
  return b;
}

async function status(g: GlobalOptions, id: string, o: Record<string, any>): Promise<number> {
  const client = clientFor(g);
  const batch = await client.batches.get(id);
  if (o.wait && !isFinished(batch)) return waitAndSummarise(client, batch, g);
  if (g.json) printJson(batch);
  else print(batchSummary(batch));
  return batchExitCode(batch);
}

async function results(g: GlobalOptions, id: string, o: Record<string, any>): Promise<number> {
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
}

async function list(g: GlobalOptions, o: Record<string, any>): Promise<number> {
  const batches: Batch[] = [];
  const pages = clientFor(g).batches.list({ status: o.status, limit: Math.min(o.limit, 1000) });
  for await (const b of pages) {
    batches.push(b);
    if (batches.length >= o.limit) break;
  }
  if (g.json) printJson(batches);
  else print(batchesTable(batches));
  return ExitCode.OK;
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
