/**
 * What every client command shares: the global options, the HTTP client, printing, and turning
 * an action's outcome or error into the documented exit code.
 */
import { type Command, InvalidArgumentError } from "commander";
import { AgentbatchClient, AgentbatchConnectionError, AgentbatchError, type Batch } from "../client/index.js";
import { isTerminalBatchStatus } from "../domain/statuses.js";

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

/** A mistake in the command line or its input file: exit 1 with the message alone. */
export class UsageError extends Error {}

export interface GlobalOptions {
  url: string;
  key?: string;
  json?: boolean;
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("expected a positive whole number");
  return n;
}

export function clientFor(opts: GlobalOptions): AgentbatchClient {
  return new AgentbatchClient({ baseUrl: opts.url, apiKey: opts.key });
}

export function print(text: string): void {
  process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function isFinished(b: Batch): boolean {
  return isTerminalBatchStatus(b.status);
}

/** A batch that ended badly or has failed requests makes `submit --wait` and `status` exit 3. */
export function batchExitCode(b: Batch): number {
  if (b.status === "failed" || b.status === "cancelled") return ExitCode.BATCH_FAILED;
  return isFinished(b) && b.failed_requests > 0 ? ExitCode.BATCH_FAILED : ExitCode.OK;
}

/** Runs an action and turns its outcome into the documented exit code. */
export function action<A extends unknown[]>(
  run: (opts: GlobalOptions, ...args: A) => Promise<number | undefined>,
) {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const opts = cmd.optsWithGlobals() as GlobalOptions;
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
